"""Chains: operators applied in order (`distill+sptq`), validated at plan time, built with a cache."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any, Callable

from edgewise.building.artifacts import Artifact, ArtifactCache, content_key
from edgewise.building.export import export_onnx
from edgewise.errors import ConfigError, PlanError
from edgewise.operators.base import OPERATORS, BuildContext, Operator, get_operator, load_builtin_operators
from edgewise.operators.settings import Settings, format_link, parse_link, split_links
from edgewise.vocabulary import FLOAT, ONNX, SPLIT, TORCH

TORCH_START = frozenset({TORCH, ONNX, FLOAT})
ONNX_START = frozenset({ONNX, FLOAT})


@dataclass(frozen=True)
class Chain:
    names: tuple[str, ...]
    # Per link, the settings written in brackets (`prune[ratio=0.3]`); they override `operators:`.
    settings: tuple[Settings, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Chain":
        links = [parse_link(part, text) for part in split_links(text)]
        if not links:
            raise PlanError(f"empty chain {text!r}", "name at least one operator, e.g. identity or distill+sptq")
        # identity inside a longer chain changes nothing: drop it so 'identity+sptq' == 'sptq'.
        if len(links) > 1:
            links = [link for link in links if link[0] != "identity"] or [("identity", ())]
        settings = tuple(s for _, s in links)
        return cls(tuple(n for n, _ in links), settings if any(settings) else ())

    def _settings(self, i: int) -> Settings:
        return self.settings[i] if self.settings else ()

    @property
    def links(self) -> tuple[str, ...]:
        """Each link's readable name: the operator, with its settings in brackets when it has any."""
        return tuple(format_link(n, self._settings(i)) for i, n in enumerate(self.names))

    @property
    def name(self) -> str:
        return "+".join(self.links)

    @property
    def splits(self) -> bool:
        load_builtin_operators()
        return any(n in OPERATORS and SPLIT in OPERATORS[n].produces for n in self.names)

    def facts(self) -> dict[str, Any]:
        """What a report needs to know of this chain, read from its operators' declarations (results.json
        keeps it, so a report never needs the operators' names): kind, display orders, int8 and split."""
        load_builtin_operators()
        classes = [OPERATORS[n] for n in self.names]
        caps = TORCH_START
        for cls in classes:
            caps = cls.produces | (caps & cls.keeps)
        acts_on = set().union(*(c.acts_on for c in classes)) if classes else set()
        return {"kind": "white" if any(c.kind == "white" for c in classes) else "black",
                "order": [c.display_order for c in classes], "int8": FLOAT not in caps, "split": SPLIT in caps,
                "acts_on": sorted(acts_on)}

    def __str__(self) -> str:
        return self.name

    def operators(self, params: dict[str, dict[str, Any]] | None = None) -> list[Operator]:
        params = params or {}
        ops = []
        for i, n in enumerate(self.names):
            merged = {**(params.get(n) or {}), **dict(self._settings(i))}
            try:
                ops.append(get_operator(n, merged))
            except ConfigError as exc:
                if not self._settings(i):
                    raise
                raise PlanError(f"chain {self.name!r}: {exc.message}", exc.hint) from None
        return ops

    def check(self, start: frozenset[str], params: dict[str, dict[str, Any]] | None = None) -> frozenset[str]:
        """Capabilities of the chain's output; raises PlanError with the reason when impossible."""
        caps = start
        prev = "the subject's model"
        for op in self.operators(params):
            why = op.refusal(caps)
            if why:
                raise PlanError(f"chain {self.name!r} is impossible: {why}, but follows {prev}",
                                _suggest(op.name, self.names))
            caps = op.output_capabilities(caps)
            prev = op.name
        return caps


def _suggest(name: str, names: tuple[str, ...]) -> str:
    if name == "partition" or names[-1] != "partition" and "partition" in names:
        return "put partition last: nothing can follow a split model"
    return "put white-box operators (qat, prune, distill) before black-box ones (sptq, partition)"


def root_artifact(subject, cache: ArtifactCache, log: Callable[[str], None] = print) -> Artifact:
    """The subject's trained model as the first artifact of every chain (exported once, cached)."""
    key = root_key(subject)
    found = cache.get(key)
    if found is not None:
        return found
    staging = cache.staging()
    try:
        onnx_src = subject.onnx_model()
        if onnx_src is not None:
            shutil.copyfile(onnx_src, staging / "model.onnx")
            art = Artifact(subject.name, (), (staging / "model.onnx",), None, ONNX_START, {"source": str(onnx_src)})
        else:
            import torch

            log(f"{subject.name}: preparing the teacher")
            module = subject.teacher().eval()
            example = subject.splits().calibration.batch(slice(0, 1))
            export_onnx(module, example, staging / "model.onnx", subject.output_name)
            torch.save(module, staging / "model.pt")
            art = Artifact(subject.name, (), (staging / "model.onnx",), staging / "model.pt", TORCH_START,
                           {"parameters": sum(p.numel() for p in module.parameters())})
        return cache.commit(key, staging, art)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_step(op: Operator, artifact: Artifact, cache: ArtifactCache, ctx_for: Callable[..., BuildContext]) -> Artifact:
    """Apply one operator to an artifact, or return the cached result of doing so."""
    if op.name == "identity":
        return artifact
    key = step_key(op, artifact.key, ctx_for(None))
    found = cache.get(key)
    if found is not None:
        return found
    staging = cache.staging()
    try:
        out = op.apply(artifact, ctx_for(staging))
        out.chain = (*artifact.chain, op.name)
        out.capabilities = op.output_capabilities(artifact.capabilities)
        return cache.commit(key, staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def root_key(subject) -> str:
    """The cache key of the subject's model as the first artifact of its chains."""
    return content_key("root", subject.fingerprint())


def step_key(op: Operator, input_key: str, ctx_probe: BuildContext) -> str:
    """The cache key of `op` applied to the artifact keyed `input_key`: known before anything is built."""
    placement_part: Any = None
    if op.placement_dependent and ctx_probe.placement is not None:
        tiers = ctx_probe.placement.tiers
        placement_part = {
            "placement": ctx_probe.placement.name,
            "tiers": [vars(ctx_probe.tiers[t]) for t in tiers if t in ctx_probe.tiers],
            "links": [vars(link) for link in ctx_probe.links],
        }
    subject = ctx_probe.subject
    suggested = subject.operator_defaults(op.name) if subject is not None else {}
    taken = op.subject_inputs(subject) if subject is not None else None
    # Optional parts join the key only when present, so other artifacts keep their keys.
    return content_key(input_key, op.name, op.cache_params(), ctx_probe.seed, ctx_probe.profile, placement_part,
                       *([suggested] if suggested else []), *([taken] if taken is not None else []))


def build_chain(chain: Chain, subject, cache: ArtifactCache, make_ctx: Callable[..., BuildContext],
                params: dict[str, dict[str, Any]] | None = None, log: Callable[[str], None] = print) -> Artifact:
    """Build every step of `chain` for `subject`; each step is cached by content hash."""
    art = root_artifact(subject, cache, log)
    chain.check(art.capabilities, params)
    for op in chain.operators(params):
        art = build_step(op, art, cache, make_ctx)
    return art
