"""Adapted state that Keras keeps only in a layer's config: Discretization's bin boundaries.

Keras saves a vocabulary as an asset and a mean and variance as variables, but an adapted
Discretization holds its ``bin_boundaries`` as a plain list that only its config carries; a
declar archive's config is the spec, which does not hold them. The model writes them as one JSON
asset of its own (``adapted_state.json``: layer name to boundaries), read back at load within the
JSON asset limit and checked (known Discretization layers, finite numbers in increasing order)
before any layer takes them.

Example:
    >>> parse_state(b'{"bins": [0.5, 1.5]}', {"bins"}, "adapted_state.json")
    {'bins': [0.5, 1.5]}
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Collection
from typing import Any

import keras

from declar.bounded import read_file
from declar.limits import Limits

STATE_FILE = "adapted_state.json"


def _discretizations(model: keras.Model) -> dict[str, Any]:
    return {layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.Discretization)}


LOOKUPS = (keras.layers.TextVectorization, keras.layers.StringLookup, keras.layers.IntegerLookup)


def unadapted_lookups(model: keras.Model) -> list[str]:
    """The lookup layers of ``model`` (at any depth) with no vocabulary: Keras saves them, but
    cannot load them again (an empty vocabulary asset fails to import), so declar refuses to save.

    Example:
        >>> import declar
        >>> spec = "declar: 2\\nname: m\\ninputs: {x: {shape: [1], dtype: string}}\\nmodel: [{StringLookup: {}}]\\n"
        >>> unadapted_lookups(declar.build(spec))
        ['string_lookup']
    """
    return [layer.name for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, LOOKUPS) and not layer.get_vocabulary(include_special_tokens=False)]


def save_adapted_state(model: keras.Model, dir_path: str) -> None:
    """Write the bin boundaries of the model's Discretization layers into ``dir_path`` (nothing
    when none has any)."""
    state = {name: [float(b) for b in layer.bin_boundaries] for name, layer in _discretizations(model).items()
             if layer.bin_boundaries is not None}
    if state:
        with open(os.path.join(dir_path, STATE_FILE), "w", encoding="utf-8") as f:
            json.dump(state, f)


def load_adapted_state(model: keras.Model, dir_path: str, limits: Limits) -> None:
    """Give the model's Discretization layers the boundaries saved in ``dir_path``, if any; raises
    ValueError for a state file that is too large, not JSON, or not boundaries of these layers."""
    if not os.path.lexists(os.path.join(dir_path, STATE_FILE)):
        return
    limit, limit_name = limits.asset_limit(json_text=True)
    data = read_file(STATE_FILE, limit=limit, limit_name=limit_name, what=f"asset {STATE_FILE}", root=dir_path)
    layers = _discretizations(model)
    for name, boundaries in parse_state(data, layers, STATE_FILE).items():
        layers[name].bin_boundaries = boundaries


def parse_state(data: bytes, names: Collection[str], what: str) -> dict[str, list[float]]:
    """The boundaries of ``data`` by layer name, each layer one of ``names``; raises ValueError."""
    try:
        state = json.loads(data)
    except (ValueError, RecursionError) as err:
        raise ValueError(f"{what} is not valid JSON ({str(err)[:100]})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{what} must map layer names to bin boundaries")
    for name, boundaries in state.items():
        if name not in names:
            raise ValueError(f"{what} names {str(name)[:80]!r}, which is no Discretization layer of the model")
        if not (isinstance(boundaries, list) and all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                                     and math.isfinite(b) for b in boundaries)):
            raise ValueError(f"{what}: the boundaries of '{name}' must be a list of finite numbers")
        if any(a >= b for a, b in itertools.pairwise(boundaries)):
            raise ValueError(f"{what}: the boundaries of '{name}' must increase")
    return {name: [float(b) for b in boundaries] for name, boundaries in state.items()}


__all__ = ["STATE_FILE", "load_adapted_state", "parse_state", "save_adapted_state", "unadapted_lookups"]
