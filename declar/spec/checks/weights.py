"""Weights whose size the spec alone decides, checked at validate against the weight limits.

Keras decides most weight shapes only when a layer is built on its input, so the budget in
`declar.keras.budget` is what guarantees that nothing over the limits is allocated. But the
largest weights of real models are decided by a layer's arguments and the width of its input,
which a spec often states outright: an `Embedding` of ``input_dim x output_dim``, a `Dense` of
``width x units`` after an input or another layer of known width. Those are refused here, with a
located problem, so `declar validate` (and a pre-commit hook) catches the attack or the typo that
build would refuse.

Example:
    >>> from declar.limits import Limits
    >>> dict(weight_shapes("Embedding", {"input_dim": 10, "output_dim": 4}, None))
    {'embeddings': [10, 4]}
    >>> dict(weight_shapes("Dense", {"units": 3}, 8))
    {'kernel': [8, 3], 'bias': [3]}
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from declar.limits import Limits
from declar.problems import Problem
from declar.spec.checks.values import shape_errors
from declar.spec.model import Spec
from declar.spec.source import Document

# Layers whose output has the width of their input (the last axis is kept).
WIDTH_KEEPING = frozenset({
    "Activation", "ActivityRegularization", "AlphaDropout", "BatchNormalization", "Dropout", "ELU",
    "GaussianDropout", "GaussianNoise", "GroupNormalization", "LayerNormalization", "LeakyReLU", "Masking",
    "PReLU", "ReLU", "RMSNormalization", "Softmax", "SpatialDropout1D", "UnitNormalization",
})


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def weight_shapes(layer: str, args: dict[str, Any], width: int | None) -> Iterator[tuple[str, list[int]]]:
    """The variables of a built-in layer that its arguments (and its input's ``width``) decide."""
    if layer == "Embedding":
        rows, columns = _size(args.get("input_dim")), _size(args.get("output_dim"))
        if rows is not None and columns is not None:
            yield "embeddings", [rows, columns]
    elif layer == "Dense":
        units = _size(args.get("units"))
        if units is None:
            return
        if width is not None:
            yield "kernel", [width, units]
        if args.get("use_bias", True):
            yield "bias", [units]


def output_width(layer: str, args: dict[str, Any], width: int | None) -> int | None:
    """The last axis of a built-in layer's output, where the spec decides it."""
    if layer == "Dense":
        return _size(args.get("units"))
    if layer == "Embedding":
        return _size(args.get("output_dim"))
    return width if layer in WIDTH_KEEPING else None


# The argument a problem points at: the one that makes the weight large.
_BLAME = {"Dense": "units", "Embedding": "input_dim"}


def check_weights(spec: Spec, doc: Document, limits: Limits) -> Iterator[Problem]:
    """Each weight over ``max_variable_elements``, and the first layer where the model's known
    weights together pass ``max_model_elements``."""
    widths: dict[str, int | None] = {i.name: (_size(i.shape[-1]) if i.shape else None) for i in spec.inputs}
    creators = {n.name: n for n in spec.nodes if n.layer is not None}
    total, reported_total = 0, False
    for node in spec.nodes:  # nodes listed before their inputs get an unknown width: a lower bound
        source = creators.get(node.shares or "") if node.shares else node
        width = widths.get(node.inputs[0]) if len(node.inputs) == 1 else None
        if source is None or source.layer in spec.layer_types or source.layer is None:
            widths[node.name] = None
            continue
        widths[node.name] = output_width(source.layer, source.args, width)
        if node.shares:
            continue  # a shared layer's weights were counted where it was created
        args_path = node.path if spec.sequential else (*node.path, "args")
        blame = _BLAME.get(node.layer or "")
        path = (*args_path, blame) if blame in node.args else node.path
        for variable, shape in weight_shapes(node.layer or "", node.args, width):
            refused = list(shape_errors(shape, limits))
            for message, hint in refused:
                yield doc.problem(path, f"layer '{node.name}' ({node.layer}): variable '{variable}': {message}",
                                  hint, "too-many-elements")
            if refused:
                continue  # reported once, not again in the model's total
            total += math.prod(shape)
            if total > limits.max_model_elements and not reported_total:
                reported_total = True
                yield doc.problem(path, f"the model's weights reach {total:,} elements at layer '{node.name}', "
                                  f"over the limit of {limits.max_model_elements:,}",
                                  "raise Limits.max_model_elements if this is intended", "too-many-elements")
