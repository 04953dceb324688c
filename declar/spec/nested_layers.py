"""Layers written inside a layer's argument: ``Bidirectional: {layer: {LSTM: {units: 64}}}``.

A layer-valued argument (`declar.spec.keras_objects.LAYER_ARGS`) holds a layer written as
everywhere else in a spec, one CamelCase key (a built-in or a custom type of the spec) with its
arguments, or in Keras's own ``{class_name, config}`` form (built-ins only). This module reads the
spec form and says what a wrapper needs of the layer it wraps; it reads no Keras.

Example:
    >>> spec_form({"LSTM": {"units": 8}})
    ('LSTM', {'units': 8})
    >>> spec_form({"class_name": "LSTM", "config": {"units": 8}}) is None
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Keras's own object keys: a mapping holding one of them is in the {class_name, config} form.
_OBJECT_FORM_KEYS = frozenset({"class_name", "config", "module", "registered_name"})

# The recurrent layers Bidirectional accepts (Keras needs go_backwards, return_sequences and
# return_state on the layer), and the cells RNN and StackedRNNCells accept (they need state_size).
RNN_LAYERS = ("LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
RNN_CELLS = ("LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells")

# What a wrapper's layer-valued argument needs: a description, and the built-ins that satisfy it
# (None: any built-in). A custom type is refused in all of them: its DeclarLayer has neither the
# attributes of a recurrent layer or cell nor a `kernel` for SpectralNormalization.
REQUIREMENTS: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {
    ("Bidirectional", "layer"): ("a recurrent layer", RNN_LAYERS),
    ("Bidirectional", "backward_layer"): ("a recurrent layer", RNN_LAYERS),
    ("RNN", "cell"): ("a recurrent cell", RNN_CELLS),
    ("StackedRNNCells", "cells"): ("a recurrent cell", RNN_CELLS),
    ("SpectralNormalization", "layer"): ("a built-in layer with a kernel", None),
}


def spec_form(value: Any) -> tuple[str, Any] | None:
    """(layer, arguments) of a layer written ``{LayerName: {arguments}}``, else None.

    The arguments are returned as written (null and non-mappings too: the checks report them).

    Example:
        >>> spec_form({"Dense": None}), spec_form({"units": 8}), spec_form("LSTM")
        (('Dense', None), None, None)
    """
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    (name, args), = value.items()
    if not isinstance(name, str) or name in _OBJECT_FORM_KEYS or not name[:1].isupper():
        return None
    return name, args


def requirement_problem(wrapper: str, arg: str, layer: str, custom: bool) -> tuple[str, str] | None:
    """(message, hint) when ``layer`` cannot be the ``arg`` of ``wrapper``, else None.

    Example:
        >>> requirement_problem("Bidirectional", "layer", "Dense", custom=False)[0]
        "Bidirectional's 'layer' needs a recurrent layer, not Dense"
        >>> requirement_problem("TimeDistributed", "layer", "MyType", custom=True) is None
        True
    """
    need = REQUIREMENTS.get((wrapper, arg))
    if need is None:
        return None
    what, builtins = need
    if custom:
        shown = ", ".join(builtins[:4]) if builtins else "a Dense or a convolution"
        return (f"{wrapper}'s '{arg}' needs {what}, not the custom type {layer}",
                f"use a built-in one ({shown}...); a custom type can be wrapped by TimeDistributed or Pipeline")
    if builtins is not None and layer not in builtins:
        return f"{wrapper}'s '{arg}' needs {what}, not {layer}", f"one of {', '.join(builtins)}"
    return None


def referenced_types(value: Any, types: Mapping[str, Any]) -> Iterator[str]:
    """The custom types of ``types`` that ``value`` (layer arguments, as JSON) names in the spec form,
    at any depth, each once, in the order met (walked without recursion).

    Example:
        >>> list(referenced_types({"layer": {"Scale": {}}, "units": 2}, {"Scale": {}}))
        ['Scale']
    """
    seen: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            form = spec_form(item)
            if form is not None and form[0] in types and form[0] not in seen:
                seen.add(form[0])
                yield form[0]
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


__all__ = ["REQUIREMENTS", "RNN_CELLS", "RNN_LAYERS", "referenced_types", "requirement_problem", "spec_form"]
