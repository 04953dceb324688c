"""The per-layer rows of a built model: name, parameter count and output shape, computed once.

`declar build` prints them, `declar diff` compares them between two versions and `declar plot`
writes them into the graph's boxes. Nothing here imports Keras: it reads a built model.

Example:
    >>> import declar
    >>> model = declar.build("specs/keras_guide/custom_build.yaml")
    >>> [(r.name, r.params, r.output_shape) for r in layer_rows(model)]
    [('layer_with_custom_build', 144, '(None, 16)'), ('dense', 17, '(None, 1)')]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LayerRow:
    """One layer of a built model (its input layers have none)."""

    name: str
    params: int
    output_shape: str
    """As text: ``(None, 4)``, a list or mapping of them for a layer with several outputs, or
    empty for a layer that was never called."""
    layer: Any
    """The Keras layer itself, for what a caller shows beyond these (its type, its hooks)."""
    depth: int = 0
    """How deep inside nested models (block uses, repeats) the layer is; its name is then its path
    (``encoder/block_1/ffn``)."""


def layer_rows(model: Any) -> list[LayerRow]:
    """A row for each layer of ``model`` but its input layers, in the model's order; a nested model
    (a block use, a repeat) is followed by rows for its own layers, named by path.

    Walked without recursion: a repeat may hold a thousand nested models.
    """
    rows: list[LayerRow] = []
    pending: list[tuple[Any, str, int]] = [(layer, "", 0) for layer in reversed(_layers(model))]
    while pending:
        layer, prefix, depth = pending.pop()
        name = prefix + layer.name
        rows.append(LayerRow(name, layer.count_params(), output_shape_text(layer), layer, depth))
        pending.extend((inner, f"{name}/", depth + 1) for inner in reversed(_layers(layer)))
    return rows


def _layers(model: Any) -> list[Any]:
    """The layers of a (nested) model but its input layers; none for a plain layer."""
    layers = getattr(model, "layers", None)
    if not isinstance(layers, list) or not hasattr(model, "inputs"):
        return []
    return [layer for layer in layers if type(layer).__name__ != "InputLayer"]


def output_shape_text(layer: Any) -> str:
    """A layer's output shape as text: ``(None, 4)``, or a list or mapping of them for a layer that
    returns several tensors (an LSTM with ``return_state``)."""
    if not hasattr(layer, "output"):
        return ""
    output = layer.output
    if isinstance(output, dict):
        return "{" + ", ".join(f"{k}: {tuple(v.shape)}" for k, v in output.items()) + "}"
    if isinstance(output, (list, tuple)):
        return "[" + ", ".join(str(tuple(t.shape)) for t in output) + "]"
    return str(tuple(output.shape))


__all__ = ["LayerRow", "layer_rows", "output_shape_text"]
