"""Operators: transformations of a model (white-box ones train, black-box ones do not)."""

from edgewise.operators.base import OPERATORS, BuildContext, Operator, get_operator, load_builtin_operators

__all__ = ["OPERATORS", "BuildContext", "Operator", "get_operator", "load_builtin_operators"]
