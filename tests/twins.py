"""Reference twins: a spec compared with the same model written by hand in Keras.

A spec construct is done when a real model uses it. Each example under specs/ that reproduces a
public Keras example has a test that writes that model by hand, the way the example writes it,
and calls `assert_same_model`: equal parameter counts, the spec's weights copied into the twin,
and equal outputs on fixed inputs.

Example (in a test):
    twin = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    assert_same_model(ROOT / "specs/examples/x.yaml", twin)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

import declar


def example_inputs(model: keras.Model, batch: int = 3, seed: int = 0, high: int = 3) -> Any:
    """Fixed inputs for ``model``: integers in [0, high) for integer inputs, floats in [0, 1) otherwise
    (unknown sizes become 5); one array for one input, else a list in input order."""
    rng = np.random.default_rng(seed)
    xs = []
    for tensor in model.inputs:
        shape = [batch] + [d if d is not None else 5 for d in tensor.shape[1:]]
        dtype = str(tensor.dtype)
        xs.append(rng.integers(0, high, size=shape).astype(dtype) if "int" in dtype
                  else rng.random(shape).astype(dtype))
    return xs if len(xs) > 1 else xs[0]


def copy_weights(source: keras.Model, target: keras.Model,
                 order: Callable[[keras.Model], Sequence[Any]] | None = None) -> None:
    """Copy every weight of ``source`` into ``target``, pairing them in order (``order`` gives each
    model's variables in matching order when the default order, ``model.weights``, differs)."""
    pick = order or (lambda m: m.weights)
    src, dst = list(pick(source)), list(pick(target))
    assert len(src) == len(dst), f"{len(src)} weights in the spec's model, {len(dst)} in the twin"
    for a, b in zip(src, dst, strict=True):
        assert tuple(a.shape) == tuple(b.shape), f"{a.path} {tuple(a.shape)} vs {b.path} {tuple(b.shape)}"
        b.assign(keras.ops.convert_to_numpy(a))


def assert_same_model(spec: str | Path, twin: keras.Model, *, inputs: Any = None, atol: float = 1e-6,
                      order: Callable[[keras.Model], Sequence[Any]] | None = None, high: int = 3) -> keras.Model:
    """Build ``spec``, check it against the hand-written ``twin``; returns the spec's model.

    Parameter counts must be equal; after the spec's weights are copied into the twin, both give
    the same outputs (within ``atol``) on ``inputs`` (default: `example_inputs`).
    """
    model = declar.build(str(spec), compile=False)
    assert model.count_params() == twin.count_params(), \
        f"{model.count_params():,} parameters in the spec's model, {twin.count_params():,} in the twin"
    copy_weights(model, twin, order)
    xs = example_inputs(model, high=high) if inputs is None else inputs
    ours, theirs = model(xs, training=False), twin(xs, training=False)
    ours_flat, theirs_flat = keras.tree.flatten(ours), keras.tree.flatten(theirs)
    assert len(ours_flat) == len(theirs_flat), f"{len(ours_flat)} outputs vs {len(theirs_flat)} in the twin"
    for a, b in zip(ours_flat, theirs_flat, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=atol)
    return model
