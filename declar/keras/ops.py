"""The function table bound to ``keras.ops``: each name of `declar.expr.ops.OPS`, nothing else."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras

from declar.expr.ops import COMPOSITES, OPS


def _squared_difference(x1: Any, x2: Any) -> Any:
    return keras.ops.square(keras.ops.subtract(x1, x2))


@functools.cache
def keras_functions() -> dict[str, Callable[..., Any]]:
    """Name -> keras.ops function for every entry of the table."""
    table: dict[str, Callable[..., Any]] = {n: getattr(keras.ops, n) for n in OPS if n not in COMPOSITES}
    table["squared_difference"] = _squared_difference
    return table
