"""An ``op:`` node keeps axis 0 as the batch: it may not join, repeat, reshape or move examples.

Every size check of an op runs on the build's symbolic tensors, where the batch is ``None``, and
counts elements per example; an op that grows the batch axis hides its cost there:
``concatenate([x, x], axis=0)`` has the symbolic shape of ``x``, ``repeat(x, 10**5, axis=0)`` and
``reshape(x, [-1, 1])`` look smaller than they are, and a chain of them multiplies one example
into billions of rows at the first `predict`. So the expression is run once more on symbolic
tensors whose batch is concrete (2, then 3; nothing is allocated): each result must either have
that batch as its leading axis, or not depend on the batch at all (``arange(0, 12)``, ``x[0]``).

Example:
    >>> import keras
    >>> x = keras.KerasTensor((None, 4))
    >>> batch_axis_problem(lambda env: keras.ops.concatenate([env["x"], env["x"]], axis=0), {"x": x})
    'the result has 4 rows for 2 examples (shape (4, 4)) and 6 for 3 (shape (6, 4))'
    >>> batch_axis_problem(lambda env: env["x"] * 2, {"x": x}) is None
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras

PROBE_BATCHES = (2, 3)  # not 1: a batch of 1 looks like a broadcast axis


def with_batch(value: Any, batch: int) -> Any:
    """``value`` (a tensor, or a list, tuple or dict of them) with an unknown batch axis made ``batch``."""
    if isinstance(value, keras.KerasTensor):
        shape = tuple(value.shape)
        if shape and shape[0] is None:
            return keras.KerasTensor((batch, *shape[1:]), dtype=value.dtype)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(with_batch(v, batch) for v in value)
    if isinstance(value, dict):
        return {k: with_batch(v, batch) for k, v in value.items()}
    return value


def _shapes(result: Any) -> list[tuple[Any, ...]]:
    return [tuple(t.shape) for t in keras.tree.flatten(result) if hasattr(t, "shape")]


def batch_axis_problem(run: Callable[[Mapping[str, Any]], Any], env: Mapping[str, Any]) -> str | None:
    """Why ``run`` (an op's closure) does not keep axis 0 of ``env``'s tensors as the batch, or None."""
    low, high = PROBE_BATCHES
    first = _shapes(run({k: with_batch(v, low) for k, v in env.items()}))
    second = _shapes(run({k: with_batch(v, high) for k, v in env.items()}))
    for a, b in zip(first, second, strict=True):
        if a == b:  # does not depend on the batch
            continue
        if a and b and a[0] == low and b[0] == high and a[1:] == b[1:]:
            continue
        rows = (a[0] if a else "no", b[0] if b else "no")
        return f"the result has {rows[0]} rows for {low} examples (shape {a}) and {rows[1]} for {high} (shape {b})"
    return None
