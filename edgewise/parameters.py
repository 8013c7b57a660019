"""A plug-in's parameters (an operator's, a runtime's) checked against its pydantic model, with the error a
user can act on: which value, why, and the names that are valid."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from edgewise.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], values: dict[str, Any], owner: str, noun: str) -> M:
    """`model(**values)`, or a ConfigError naming `owner` (e.g. "operator 'prune'") and the valid `noun`s."""
    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{owner}: {noun} '{field_name}' = {err.get('input')!r}: {err['msg']}",
                          f"valid {noun}s: {', '.join(model.model_fields) or 'none'}") from None
