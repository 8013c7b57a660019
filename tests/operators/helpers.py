"""Shared pieces of the operator tests (their home is the public conformance module)."""

from __future__ import annotations

from edgewise.testing.operators import evaluate, make_ctx_factory, run_parts

__all__ = ["evaluate", "make_ctx_factory", "run_parts"]
