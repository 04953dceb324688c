"""The function table bound to Keras: each name of `declar.expr.ops.OPS`, nothing else, and the
random draws of `declar.expr.ops.RANDOM_OPS` bound to one layer's seed generator."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

import keras

from declar.expr.ops import COMPOSITES, OPS, RANDOM_OPS, Signature


def _squared_difference(x1: Any, x2: Any) -> Any:
    return keras.ops.square(keras.ops.subtract(x1, x2))


def keras_function(signature: Signature) -> Callable[..., Any]:
    """The Keras function a table entry names (``keras.ops.image.extract_patches``...).

    Example:
        >>> keras_function(OPS["extract_patches"]) is keras.ops.image.extract_patches
        True
    """
    return functools.reduce(getattr, signature.keras_path.split("."), keras)


@functools.cache
def keras_functions() -> dict[str, Callable[..., Any]]:
    """Name -> Keras function for every entry of the table (without the random draws)."""
    table: dict[str, Callable[..., Any]] = {n: keras_function(s) for n, s in OPS.items() if n not in COMPOSITES}
    table["squared_difference"] = _squared_difference
    return table


def random_functions(seed_generator: keras.random.SeedGenerator) -> dict[str, Callable[..., Any]]:
    """The random draws, each drawing from ``seed_generator`` (whose state advances per draw).

    Example:
        >>> draws = random_functions(keras.random.SeedGenerator(3))
        >>> tuple(draws["random_normal"]((2, 3)).shape)
        (2, 3)
        >>> sorted(set(keras.ops.convert_to_numpy(draws["random_bernoulli"]((50,), p=0.5)).tolist()))
        [0.0, 1.0]
    """
    table = {n: functools.partial(keras_function(s), seed=seed_generator) for n, s in RANDOM_OPS.items()
             if n not in COMPOSITES}

    def bernoulli(shape: Any, p: Any = 0.5, dtype: Any = None) -> Any:
        # One uniform draw per element, compared with p: what Keras's own dropout does.
        drawn = keras.random.uniform(shape, seed=seed_generator)
        return keras.ops.cast(keras.ops.less(drawn, p), dtype or keras.backend.floatx())

    table["random_bernoulli"] = bernoulli
    return table


def draw_seed(seed: int, name: str) -> int:
    """The seed of the random draws of the layer ``name`` in a model of seed ``seed``: a function of
    the two only (not of build order or process), in [0, 2**31).

    Example:
        >>> draw_seed(42, "sampling") == draw_seed(42, "sampling") != draw_seed(43, "sampling")
        True
    """
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
