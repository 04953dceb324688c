"""How many elements per example a size-making function would produce, known before it runs.

`tile`, `repeat`, `one_hot`, `broadcast_to`, `reshape`, `full_like` and `outer` make tensors whose
size comes from their arguments, not only from their input: ``tile(x, [1, 10**6])`` of a 4-float
input is 4 million floats per example. The same rules serve twice: at validate, on constant sizes
(an input counts as one element: the bound is a lower one), and at build or run, on the static
shapes of the actual tensors, before the operation allocates. Plain Python only, no keras.

"Per example" is the result's element count divided by the batch size (`batch_of` the
expression's environment: the leading axis of a layer's ``inputs``), when that is known: at build
the batch dimension is unknown (None) and counts as 1, at run it is concrete and divided out, so
both see the same number. The batch comes from the environment, never from an operand: in
``s * inputs`` the first operand is a weight, whose leading axis is not a batch.

Example:
    >>> class Tensor:
    ...     shape = (None, 4)
    >>> per_example("tile", {"x": Tensor(), "repeats": [1, 10**6]})
    4000000
    >>> per_example("one_hot", {"x": Tensor(), "num_classes": 10})
    40
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# The functions whose result size is computed before they run (see `per_example`).
SIZED = frozenset({"tile", "repeat", "one_hot", "broadcast_to", "reshape", "full_like", "outer"})
# Which argument of each is its size, for locating a problem at validate.
SIZE_ARGUMENT = {"tile": "repeats", "repeat": "repeats", "one_hot": "num_classes", "broadcast_to": "shape",
                 "reshape": "newshape", "full_like": "x", "outer": "x2"}

_CAP = 1 << 80  # products stop growing past this: any limit is far below, and no huge integer is built


def static_shape(value: Any) -> tuple[int | None, ...] | None:
    """The static shape of a tensor (None for unknown dimensions), () for a number, None if unknown."""
    if isinstance(value, (bool, int, float)):
        return ()
    if isinstance(value, (list, tuple)):
        return (len(value),)
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        dims = list(shape)
    except (TypeError, ValueError):  # a TensorShape of unknown rank
        return None
    out: list[int | None] = []
    for dim in dims:
        if dim is None or isinstance(dim, bool):
            out.append(None)
        elif isinstance(dim, int):
            out.append(dim)
        else:  # numpy integers; JAX's symbolic dimensions refuse (InconclusiveDimensionOperation): unknown
            try:
                out.append(operator.index(dim))
            except Exception:  # each backend has its own exception for a symbolic size
                out.append(None)
    return tuple(out)


def capped_product(sizes: Iterable[Any]) -> int | None:
    """The product of integer sizes (None, -1 and other negatives count as 1), capped; None if not all ints."""
    total = 1
    for size in sizes:
        if size is None:
            continue
        if isinstance(size, bool) or not isinstance(size, int):
            return None
        if size > 0:
            total = min(total * min(size, _CAP), _CAP)
        elif size == 0:
            return 0
    return total


def _sizes(value: Any) -> list[Any] | None:
    """A size argument as a list of sizes: an int, a list or tuple of them (tensors: None)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def _elements(value: Any) -> int:
    shape = static_shape(value)
    return (capped_product(shape) or 1) if shape is not None else 1  # unknown: at least one


def _batch(value: Any) -> int:
    shape = static_shape(value)
    if shape and isinstance(shape[0], int) and shape[0] > 0:
        return shape[0]
    return 1


def _times(x: Any, sizes: Any) -> int | None:
    listed = _sizes(sizes)
    factor = None if listed is None else capped_product(listed)
    return None if factor is None else min(_elements(x) * factor, _CAP)


def _repeat(args: Mapping[str, Any]) -> int | None:
    repeats = _sizes(args.get("repeats"))
    if repeats is None or not all(isinstance(r, int) and not isinstance(r, bool) for r in repeats):
        return None
    most = max([0, *repeats]) if len(repeats) > 1 else (repeats[0] if repeats else 0)
    return min(_elements(args.get("x")) * max(most, 0), _CAP)


def _shape_given(key: str) -> Callable[[Mapping[str, Any]], int | None]:
    def rule(args: Mapping[str, Any]) -> int | None:
        sizes = _sizes(args.get(key))
        return None if sizes is None else capped_product(sizes)
    return rule


_RULES: dict[str, Callable[[Mapping[str, Any]], int | None]] = {
    "tile": lambda a: _times(a.get("x"), a.get("repeats")),
    "repeat": _repeat,
    "one_hot": lambda a: _times(a.get("x"), a.get("num_classes")),
    "broadcast_to": _shape_given("shape"),
    "reshape": _shape_given("newshape"),
    "full_like": lambda a: _elements(a.get("x")),
    "outer": lambda a: min(_elements(a.get("x1")) * _elements(a.get("x2")), _CAP),
}


def batch_of(env: Mapping[str, Any]) -> int:
    """The batch size per-example counts divide by: the leading axis of a layer's ``inputs``; in a
    spec function (whose arguments are all batches: ``y_true``, ``y_pred``) the largest leading
    axis among them; 1 while it is unknown (symbolic tensors at build).

    Example:
        >>> class Batch:
        ...     shape = (64, 100)
        >>> batch_of({"s": object(), "inputs": Batch()})
        64
    """
    if "inputs" in env:
        return _batch(env["inputs"])
    return max((_batch(v) for v in env.values() if hasattr(v, "shape")), default=1)


def per_example(name: str, args: Mapping[str, Any], batch: int = 1) -> int | None:
    """Elements per example of ``name(**args)``'s result, or None when it cannot be known yet.

    ``args`` maps parameter names (as in the function table) to values: tensors (anything with a
    ``shape``), numbers, lists of sizes; ``batch`` is `batch_of` the expression's environment.
    """
    rule = _RULES.get(name)
    if rule is None:
        return None
    total = rule(args)
    if total is None:
        return None
    return -(-total // batch)


def too_many(what: str, elements: int, limit: int) -> str:
    """The message for a result over the limit: ``what`` makes it (``tile()``, ``operator *``)."""
    shown = f"{elements:,}" if elements < _CAP else "more than 2**80"
    return f"{what} would make {shown} elements per example, over the limit of {limit:,}"
