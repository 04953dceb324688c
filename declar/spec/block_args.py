"""Parameter expressions inside a block: which argument values are expressions, and their values.

Inside a block, a string argument value that names at least one of the block's parameters is an
expression over them (`units: ff_dim * 4`, `key_dim: embed_dim`); any other string is a plain
string (`activation: relu`). The expression must name only parameters: `ff_dim * fo` is reported
(with "did you mean") rather than passed on as text. Values are computed in plain Python with the
shape functions (max, min, prod), the same evaluator as a custom type's variable shapes; nothing
is ever run as code.

Example:
    >>> from declar.limits import Limits
    >>> is_param_expression("ff_dim * 4", {"ff_dim"}), is_param_expression("relu", {"ff_dim"})
    (True, False)
    >>> substitute({"units": "ff_dim * 4", "activation": "relu", "size": ["k", "k"]}, {"ff_dim": 8, "k": 3}, Limits())
    {'units': 32, 'activation': 'relu', 'size': [3, 3]}
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from declar.expr.ops import SHAPE_FUNCTIONS
from declar.expr.parse import Checked, Context, check
from declar.limits import Limits
from declar.spec.expressions import compute_shape
from declar.spec.keras_objects import Refusal, argument_refusals, path_refusals


def _names(text: str) -> set[str] | None:
    """The names a string would use as an expression, or None when it is not Python syntax."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def is_param_expression(value: Any, params: Collection[str]) -> bool:
    """Whether ``value`` is a parameter expression: a string naming at least one parameter."""
    if not isinstance(value, str) or not params or len(value) > 2_000:
        return False
    names = _names(value)
    return bool(names and names & set(params))


def expressions_in(value: Any, params: Collection[str], where: tuple[Any, ...] = ()
                   ) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path within ``value``, text) of every parameter expression in a value (lists and mappings walked)."""
    if isinstance(value, str):
        if is_param_expression(value, params):
            yield where, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from expressions_in(item, params, (*where, i))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from expressions_in(item, params, (*where, key))


def check_expression(text: str, params: Collection[str], limits: Limits) -> Checked:
    """The expression checked against the block's parameters (problems located in the text)."""
    return check(text, Context(names=params, functions=SHAPE_FUNCTIONS, kind="parameter expression"), limits)


def substitute(value: Any, env: Mapping[str, Any], limits: Limits) -> Any:
    """``value`` with every parameter expression replaced by its value under ``env`` (a copy).

    Raises `declar.expr.evaluate.ExpressionError` when an expression cannot be computed.
    """
    if isinstance(value, str):
        if is_param_expression(value, env):
            return compute_shape(check_expression(value, env, limits), env, limits)
        return value
    if isinstance(value, list):
        return [substitute(v, env, limits) for v in value]
    if isinstance(value, Mapping):
        return {k: substitute(v, env, limits) for k, v in value.items()}
    return value


def gate_refusals(layer: str, args: Mapping[str, Any]) -> list[Refusal]:
    """What the argument gate refuses in computed arguments of a built-in ``layer`` (a file path, a
    Keras object it does not allow): the same rules as for written arguments, applied to values
    that were parameter expressions when validated.

    Example:
        >>> gate_refusals("StringLookup", {"vocabulary": "/etc/passwd"})[0][1]
        "'vocabulary' as a string is a file path, which declar never reads"
    """
    refusals = list(path_refusals(layer, args))
    for key, value in args.items():
        refusals += argument_refusals(layer, key, value)
    return refusals
