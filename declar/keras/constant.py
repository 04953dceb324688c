"""`ConstantTensor`: an `op:` node that computes a constant, kept inside the functional graph.

An op over no tensor of the graph (``positions: {op: "arange(0, maxlen)"}``) runs at once, on
concrete values: a layer then applied to it (a position `Embedding`) would run eagerly too, and
Keras would bake its output into the graph as a constant, so its weights would neither train
nor be saved. Computed by this layer, called on one of the graph's inputs (which it ignores),
the constant is a symbolic tensor like any other, and so is everything built from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras


class ConstantTensor(keras.layers.Layer):
    """A layer returning ``compute()``, whatever it is called on (the call only anchors it in the graph).

    Example:
        >>> x = keras.Input((3,))
        >>> positions = ConstantTensor(lambda: keras.ops.arange(0, 4), name="positions")(x)
        >>> tuple(positions.shape), isinstance(positions, keras.KerasTensor)
        ((4,), True)
    """

    def __init__(self, compute: Callable[[], Any], **kwargs: Any):
        super().__init__(**kwargs)
        self._compute = compute

    def call(self, anchor: Any) -> Any:
        return self._compute()

    def compute_output_spec(self, anchor: Any) -> Any:
        value = self._compute()
        return keras.KerasTensor(tuple(value.shape), dtype=keras.backend.standardize_dtype(value.dtype))


def is_symbolic(value: Any) -> bool:
    """Whether ``value`` (a tensor, or a structure of them) holds a symbolic Keras tensor."""
    return any(isinstance(v, keras.KerasTensor) for v in keras.tree.flatten(value))
