"""How many elements per example a size-making function would produce, known before it runs.

`tile`, `repeat`, `one_hot`, `broadcast_to`, `reshape`, `full_like`, `outer`, `arange`, `zeros`,
`ones`, `eye`, `pad`, `extract_patches`, `segment_sum`, `segment_max` and the random draws make
tensors whose size comes from their arguments, not only from their input: ``tile(x, [1, 10**6])`` of a 4-float
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
SIZED = frozenset({"tile", "repeat", "one_hot", "broadcast_to", "reshape", "full_like", "outer", "arange", "zeros",
                   "ones", "eye", "pad", "extract_patches", "segment_sum", "segment_max", "random_normal",
                   "random_uniform", "random_bernoulli"})
# Which argument of each is its size, for locating a problem at validate.
SIZE_ARGUMENT = {"tile": "repeats", "repeat": "repeats", "one_hot": "num_classes", "broadcast_to": "shape",
                 "reshape": "newshape", "full_like": "x", "outer": "x2", "arange": "stop", "zeros": "shape",
                 "ones": "shape", "eye": "N", "pad": "pad_width", "extract_patches": "size",
                 "segment_sum": "num_segments", "segment_max": "num_segments", "random_normal": "shape",
                 "random_uniform": "shape", "random_bernoulli": "shape"}

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _arange(args: Mapping[str, Any]) -> int | None:
    start, stop, step = args.get("start"), args.get("stop"), args.get("step")
    if stop is None:  # arange(n) counts from 0
        start, stop = 0, start
    step = 1 if step is None else step
    numbers = (start, stop, step)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers) or step == 0:
        return None
    count = (stop - start) / step
    return max(0, min(int(-(-count // 1)), _CAP)) if count == count and abs(count) != float("inf") else None


def _eye(args: Mapping[str, Any]) -> int | None:
    rows, columns = args.get("N"), args.get("M")
    columns = rows if columns is None else columns
    return capped_product([rows, columns]) if _is_int(rows) and _is_int(columns) else None


def _pairs(value: Any, rank: int) -> list[tuple[int, int]] | None:
    """pad_width as one (before, after) per axis: an int, a pair, or a list of pairs."""
    if _is_int(value):
        return [(value, value)] * max(rank, 1)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) for v in value):
        return [(value[0], value[1])] * max(rank, 1)
    if isinstance(value, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_int(v) for v in p) for p in value):
        return [(p[0], p[1]) for p in value]
    return None


def _pad(args: Mapping[str, Any]) -> int | None:
    shape = static_shape(args.get("x")) or ()
    pairs = _pairs(args.get("pad_width"), len(shape))
    if pairs is None:
        return None
    dims = list(shape) + [1] * (len(pairs) - len(shape))  # an unknown input: one element per axis
    return capped_product([max(d or 1, 1) + max(b, 0) + max(a, 0) for d, (b, a) in zip(dims, pairs, strict=False)])


def _two(value: Any, default: Any) -> tuple[Any, Any]:
    value = default if value is None else value
    return (value, value) if not isinstance(value, (list, tuple)) else (tuple(value) * 2)[:2]


def _extract_patches(args: Mapping[str, Any]) -> int | None:
    """Positions times patch size (height * width * channels), as Keras lays the patches out."""
    size = _two(args.get("size"), None)
    strides, dilation = _two(args.get("strides"), size), _two(args.get("dilation_rate"), 1)
    if not all(_is_int(v) and v > 0 for v in (*size, *strides, *dilation)):
        return None
    shape = static_shape(args.get("images"))
    shape = shape if shape and len(shape) in (3, 4) else (None, None, None)
    first = args.get("data_format") == "channels_first"
    lead = shape[0] if len(shape) == 4 else 1
    spatial = shape[-2:] if first else shape[-3:-1]
    channels = shape[-3] if first else shape[-1]
    total = capped_product([lead, channels, size[0], size[1]]) or 0
    for dim, kernel, stride, rate in zip(spatial, size, strides, dilation, strict=True):
        if dim is None:
            continue  # unknown: one position, a lower bound
        reach = (kernel - 1) * rate + 1
        total *= -(-dim // stride) if args.get("padding") == "same" else max((dim - reach) // stride + 1, 0)
    return min(total, _CAP)


def _segments(args: Mapping[str, Any]) -> int | None:
    count = args.get("num_segments")
    if not _is_int(count):
        return None
    shape = static_shape(args.get("data"))
    return capped_product([count, *(shape[1:] if shape else ())])


_RULES: dict[str, Callable[[Mapping[str, Any]], int | None]] = {
    "tile": lambda a: _times(a.get("x"), a.get("repeats")),
    "repeat": _repeat,
    "one_hot": lambda a: _times(a.get("x"), a.get("num_classes")),
    "broadcast_to": _shape_given("shape"),
    "reshape": _shape_given("newshape"),
    "full_like": lambda a: _elements(a.get("x")),
    "outer": lambda a: min(_elements(a.get("x1")) * _elements(a.get("x2")), _CAP),
    "arange": _arange,
    "zeros": _shape_given("shape"),
    "ones": _shape_given("shape"),
    "eye": _eye,
    "pad": _pad,
    "extract_patches": _extract_patches,
    "segment_sum": _segments,
    "segment_max": _segments,
    "random_normal": _shape_given("shape"),
    "random_uniform": _shape_given("shape"),
    "random_bernoulli": _shape_given("shape"),
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
    try:
        total = rule(args)
    except (TypeError, ValueError, ArithmeticError, OverflowError):  # an argument no rule foresaw: no estimate
        return None
    if total is None:
        return None
    return -(-total // batch)


def too_many(what: str, elements: int, limit: int) -> str:
    """The message for a result over the limit: ``what`` makes it (``tile()``, ``operator *``)."""
    shown = f"{elements:,}" if elements < _CAP else "more than 2**80"
    return f"{what} would make {shown} elements per example, over the limit of {limit:,}"
