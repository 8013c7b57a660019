"""The operator registry: one class per name."""

from __future__ import annotations

import pytest

from edgewise.errors import ConfigError
from edgewise.operators import OPERATORS, Operator, load_builtin_operators


def test_a_second_operator_under_a_taken_name_is_refused_with_both_locations():
    load_builtin_operators()
    before = OPERATORS["sptq"]
    with pytest.raises(ConfigError) as info:

        class AnotherSptq(Operator):  # noqa: F841 - defining it is the test
            name = "sptq"

            def apply(self, artifact, ctx):
                return artifact

    message = str(info.value.message)
    assert f"{before.__module__}.{before.__qualname__}" in message
    assert "AnotherSptq" in message
    assert OPERATORS["sptq"] is before


def test_a_new_name_registers():
    class Toy(Operator):
        name = "toy-registry-check"

        def apply(self, artifact, ctx):
            return artifact

    try:
        assert OPERATORS["toy-registry-check"] is Toy
    finally:
        OPERATORS.pop("toy-registry-check")
