"""The service-level objective a study is judged against: one type, its defaults stated once.

A pydantic model rather than a dataclass because the study file validates it (bounds, the
percentiles the early-stopping estimate supports, no unknown keys) and results.json keeps its
dump; the report and `edgewise recommend` build the same type from results and command-line
bounds, so every reader agrees on the defaults and the checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from edgewise.errors import ConfigError

Percentile = Literal[50, 90, 95, 99]
SIZE_BOUNDS = ("max_model_mb", "max_memory_mb")
PERCENTILES: tuple[int, ...] = get_args(Percentile)


# A figure computed exactly at a bound may land a rounding error past it: 40 of 2,000 samples is a
# drop of 2 points, and 100 * (0.888 - 0.868) computes as 2.0000000000000018.
_ROUNDING = 1e-9


def within(value: float, bound: float) -> bool:
    """A measured figure at or under a bound, float rounding forgiven."""
    return value <= bound + _ROUNDING * max(1.0, abs(bound))


class Sla(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_latency_ms: float = Field(default=50.0, gt=0)
    percentile: Percentile = 95
    max_accuracy_drop: float = Field(default=1.0, ge=0, description="points (percent) of the metric")
    rate_per_s: float | None = Field(default=None, gt=0, description="server scenario: the rate the SLA holds at")
    max_model_mb: float | None = Field(default=None, gt=0, description="the largest model file a tier may hold (MB; "
                                       "a partition: each part on its tier)")
    max_memory_mb: float | None = Field(default=None, gt=0, description="a tier's peak memory while serving the cell "
                                        "(MB, peak RSS of its serving process; a partition: each part on its tier)")

    @model_serializer(mode="wrap")
    def _without_unset_size_bounds(self, handler):
        # Bounds a study does not state are left out of its dump, so that a study file written before they
        # existed keeps its fingerprint (and its store resumes).
        data = handler(self)
        for key in SIZE_BOUNDS:
            if data.get(key) is None:
                data.pop(key, None)
        return data

    @classmethod
    def checked(cls, **bounds: Any) -> "Sla":
        """An SLA from bounds a user gave outside the study file (command line, API), or ConfigError."""
        try:
            return cls(**bounds)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"])
            raise ConfigError(f"SLA {field} = {err.get('input')!r}: {err['msg']}",
                              f"give a positive latency bound, a percentile among {', '.join(map(str, PERCENTILES))}, "
                              "a non-negative accuracy drop and positive model and memory bounds (MB)") from None

    @classmethod
    def of(cls, study: Mapping[str, Any], max_latency_ms: float | None = None, percentile: int | None = None,
           max_accuracy_drop: float | None = None, max_model_mb: float | None = None,
           max_memory_mb: float | None = None) -> "Sla":
        """The SLA a study's results state (study["sla"]; defaults where they state none), each bound
        overridden where one is given."""
        stated = {k: v for k, v in (study.get("sla") or {}).items() if k in cls.model_fields and v is not None}
        given = {"max_latency_ms": max_latency_ms, "percentile": percentile, "max_accuracy_drop": max_accuracy_drop,
                 "max_model_mb": max_model_mb, "max_memory_mb": max_memory_mb}
        bounds = {**stated, **{k: v for k, v in given.items() if v is not None}}
        if isinstance(bounds.get("percentile"), float) and bounds["percentile"].is_integer():
            bounds["percentile"] = int(bounds["percentile"])  # a JSON or CSV reader may hand 95.0
        return cls.checked(**bounds)

    def describe(self) -> str:
        sizes = [f"model ≤ {self.max_model_mb:g} MB" if self.max_model_mb is not None else "",
                 f"peak memory ≤ {self.max_memory_mb:g} MB per tier" if self.max_memory_mb is not None else ""]
        return (f"p{self.percentile} latency ≤ {self.max_latency_ms:g} ms and accuracy drop ≤ "
                f"{self.max_accuracy_drop:g} points against identity" + "".join(f", {s}" for s in sizes if s))


DEFAULT_SLA = Sla()
