"""A cell's artifact in its runtime's form, built once and cached by content hash like every step.

ONNX Runtime and OpenVINO serve the chain's ONNX graph as the operators built it: the cell's artifact is
the chain's, built with the operator settings the runtime needs (`served_chain`: OpenVINO's sptq is
built in QDQ format, so its int8 graph is keyed apart from ONNX Runtime's). A runtime with a form of its
own (ExecuTorch's .pte) builds it from the chain's artifact before the operators it does itself
(`Runtime.replaces`: sptq is ExecuTorch's own int8 path), and that form is one more cache step after
them, keyed the same way wherever it is built (in-process, a lane, Ray).
"""

from __future__ import annotations

import shutil
from typing import Any, Callable

from edgewise.building.artifacts import Artifact, ArtifactCache, content_key
from edgewise.errors import PlanError
from edgewise.operators.base import BuildContext
from edgewise.operators.chain import Chain, build_chain
from edgewise.runtimes.base import ONNX_FORM, Runtime
from edgewise.runtimes.choice import RuntimeChoice


def prefix(chain: Chain, length: int) -> Chain:
    """The first `length` links of `chain`, with their settings (identity when none are left)."""
    if length == 0:
        return Chain(("identity",))
    settings = chain.settings[:length] if chain.settings else ()
    return Chain(chain.names[:length], settings if any(settings) else ())


def served_chain(chain: Chain, runtime: Runtime, params: dict[str, dict[str, Any]] | None = None,
                 where: str = "") -> Chain:
    """`chain` with the operator settings `runtime` needs written into its links (they then key its
    artifacts); a setting the study gives otherwise, in the chain or its `operators:`, is refused (PlanError)."""
    needs = runtime.operator_settings
    if not any(n in needs for n in chain.names):
        return chain
    params = params or {}
    links = []
    for i, name in enumerate(chain.names):
        own = dict(chain.settings[i]) if chain.settings else {}
        for key, value in (needs.get(name) or {}).items():
            given = own.get(key, (params.get(name) or {}).get(key, value))
            if given != value:
                raise PlanError(f"{where or f'chain {chain.name!r}'}: {runtime.name} cannot serve {name} with "
                                f"{key}={given} ({runtime.operator_settings_reason})",
                                f"leave {key} unset (the cell then builds {name}[{key}={value}]) or serve this chain "
                                "with another runtime")
            own[key] = value
        links.append(tuple(own.items()))
    return Chain(chain.names, tuple(links))


def form_plan(chain: Chain, runtime: Runtime) -> tuple[Chain, tuple[str, ...]] | None:
    """For a runtime with a form of its own: the chain built before it and the operators its form does
    instead. None for a runtime that serves the chain's ONNX as it is."""
    if runtime.form == ONNX_FORM:
        return None
    before, replaced = runtime.form_chain(chain.names)
    return prefix(chain, len(before)), replaced


def check_cell(chain: Chain, runtime: Runtime, start: frozenset[str], params: dict[str, dict[str, Any]] | None,
               where: str) -> None:
    """Refuse (PlanError) a chain this runtime cannot serve, with the reason."""
    chain = served_chain(chain, runtime, params, where)
    plan = form_plan(chain, runtime)
    caps = (plan[0] if plan else chain).check(start, params)
    why = runtime.refusal(caps, chain.names)
    if why:
        raise PlanError(f"{where}: {why}",
                        "serve it with onnxruntime or openvino, or choose a chain this runtime can take")


FORM_MARK = "@"  # a build step's last name `@executorch`: the runtime's form of the steps before it


def form_step(names: tuple[str, ...], runtime: Runtime) -> tuple[str, ...]:
    """The names of a build step that makes `runtime`'s form after the chain `names`."""
    return (*names, f"{FORM_MARK}{runtime.name}")


def is_form_step(names) -> bool:
    return bool(names) and str(names[-1]).startswith(FORM_MARK)


def form_key(runtime: Runtime, input_key: str, replaced: tuple[str, ...], params: dict[str, dict[str, Any]],
             ctx_probe: BuildContext) -> str:
    """The cache key of `runtime`'s form of the artifact keyed `input_key`."""
    replaced_params = {n: params.get(n) or {} for n in replaced}
    return content_key(input_key, "runtime-form", runtime.name, runtime.form_params(), list(replaced), replaced_params,
                       ctx_probe.seed, ctx_probe.profile)


def build_form(runtime: Runtime, artifact: Artifact, cache: ArtifactCache, make_ctx: Callable[..., BuildContext],
               replaced: tuple[str, ...], params: dict[str, dict[str, Any]], chain: tuple[str, ...]) -> Artifact:
    key = form_key(runtime, artifact.key, replaced, params, make_ctx(None))
    found = cache.get(key)
    if found is not None:
        return found
    staging = cache.staging()
    try:
        out = runtime.build_form(artifact, make_ctx(staging), replaced, params, staging)
        out.chain = chain
        return cache.commit(key, staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_cell(chain: Chain, runtime_text: str, subject, cache: ArtifactCache, make_ctx: Callable[..., BuildContext],
               params: dict[str, dict[str, Any]] | None = None,
               runtime_settings: dict[str, dict[str, Any]] | None = None,
               log: Callable[[str], None] = print) -> Artifact:
    """The artifact a cell's runtime serves: the chain's, or the runtime's form built from it."""
    params = params or {}
    runtime = RuntimeChoice.parse(runtime_text).make(runtime_settings)
    chain = served_chain(chain, runtime, params)
    plan = form_plan(chain, runtime)
    if plan is None:
        return build_chain(chain, subject, cache, make_ctx, params, log)
    before, replaced = plan
    source = build_chain(before, subject, cache, make_ctx, params, log)
    full = tuple(n for n in chain.names if n != "identity")
    return build_form(runtime, source, cache, make_ctx, replaced, params, full)
