"""A runtime as a study names it: `openvino`, `openvino[precision=bf16]`, `onnxruntime[threads=2]`.

Settings are written as an operator's are in a chain; they override the study's `runtimes:`
section for that cell. The text is the runtime's part of a cell's name (`resnet:sptq@edge/openvino`);
ONNX Runtime with no settings is the default and leaves the name as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgewise.errors import PlanError
from edgewise.operators.settings import Settings, format_link, parse_link
from edgewise.runtimes.base import DEFAULT_RUNTIME, Runtime, runtime_class


@dataclass(frozen=True)
class RuntimeChoice:
    name: str = DEFAULT_RUNTIME
    settings: Settings = ()

    @classmethod
    def parse(cls, text: str | None) -> "RuntimeChoice":
        if not text:
            return cls()
        try:
            name, settings = parse_link(text, text)
        except PlanError:
            raise PlanError(f"runtime {text!r} is not NAME or NAME[key=value,...]",
                            "e.g. openvino or openvino[precision=bf16]") from None
        return cls(name, settings)

    @property
    def text(self) -> str:
        """The runtime's readable name with its settings; '' for the default (ONNX Runtime as it is)."""
        if self.is_default:
            return ""
        return format_link(self.name, self.settings)

    @property
    def label(self) -> str:
        """The name as a report shows it (the default spelled out)."""
        return format_link(self.name, self.settings)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_RUNTIME and not self.settings

    def runtime_class(self) -> type[Runtime]:
        return runtime_class(self.name)

    def make(self, study_settings: dict[str, dict[str, Any]] | None = None) -> Runtime:
        """The runtime with the study's settings for it, those written in the name over them."""
        merged = {**((study_settings or {}).get(self.name) or {}), **dict(self.settings)}
        return self.runtime_class()(**merged)

    def wire(self, study_settings: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """What a tier's LOAD names: the runtime and its settings in full (the tier holds no study file)."""
        return {"name": self.name, "settings": self.make(study_settings).settings()}

    def __str__(self) -> str:
        return self.label


def runtime_text(text: str | None) -> str:
    """The canonical runtime part of a cell name ('' for the default)."""
    return RuntimeChoice.parse(text).text


def served_key(artifact_key: str, runtime: str) -> str:
    """An artifact as one runtime serves it: its accuracy is stored and its tier sessions are loaded under
    this key (a bf16 or int8 runtime changes predictions). The artifact's own key for the default runtime."""
    return f"{artifact_key}@{runtime}" if runtime else artifact_key
