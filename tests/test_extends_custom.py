"""Custom types extending custom types, end to end: build (each level's call around the one below,
a variable sized by the base's output shape), call, Keras's shape inference through wrappers (the
issue's "DeclarLayer does not have a compute_output_shape method"), save, and load in a fresh
process. Each model equals the same model written by hand in Keras."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from fresh_roundtrip import BACKENDS, assert_round_trip, fresh_archives
from twin_layers import Shifted
from twins import assert_same_model

from declar.keras.layer import DeclarLayer

SPECS = Path(__file__).resolve().parent / "specs"
TYPES = {
    "Scaled": {"extends": "Dense", "params": {"factor": {"type": "number", "default": 2.0}},
               "call": "base(inputs) * factor"},
    "Shifted": {"extends": "Scaled", "variables": {"shift": {"shape": "[output_shape[-1]]", "initializer": "ones"}},
                "call": "base(inputs) + shift"},
}


class _Clipped(Shifted):
    """The spec's Clipped (extends Shifted): the Shifted output, clipped from above."""

    def __init__(self, units: int, factor: float, limit: float, **kwargs):
        super().__init__(units, factor, **kwargs)
        self.limit = limit

    def call(self, inputs):
        return keras.ops.minimum(super().call(inputs), self.limit)


class _Halved(keras.layers.LSTM):
    """The spec's Halved (extends Recurrent, which extends LSTM): half the LSTM's output."""

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training) * 0.5


def test_a_chain_of_custom_types_is_the_same_model_as_written_by_hand():
    twin = keras.Sequential([keras.Input((6,), dtype="int32"), keras.layers.Embedding(3, 4, mask_zero=True),
                             _Halved(3), _Clipped(2, 3.0, 1.0)])
    model = assert_same_model(SPECS / "extends_chain.yaml", twin)
    clipped = model.get_layer("clipped")
    assert [type(layer).__name__ for layer in (clipped, clipped.base, clipped.base.base)] == ["DeclarLayer"] * 3
    assert isinstance(clipped.base.base.base, keras.layers.Dense)
    # Outputs lie around the shift of 1: some are clipped, some not (each level's call counts).
    out = keras.ops.convert_to_numpy(model(np.random.default_rng(1).integers(0, 3, (16, 6)).astype("int32")))
    assert (out == 1.0).any() and (out < 1.0).any()


def test_a_type_extending_a_custom_type_reports_its_output_shape_to_keras_wrappers():
    # The failure: TimeDistributed asks its layer for compute_output_shape.
    layer = DeclarLayer(types=TYPES, layer_type="Shifted", args={"units": 3, "factor": 0.5})
    assert layer.compute_output_shape((None, 4)) == (None, 3)
    wrapped = keras.layers.TimeDistributed(layer)
    x = keras.Input((5, 4))
    assert tuple(wrapped(x).shape) == (None, 5, 3)
    twin = keras.layers.TimeDistributed(Shifted(3, 0.5))
    twin.build((None, 5, 4))
    for a, b in zip(wrapped.weights, twin.weights, strict=True):
        b.assign(keras.ops.convert_to_numpy(a))
    data = np.random.default_rng(0).random((2, 5, 4)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapped(data)), keras.ops.convert_to_numpy(twin(data)),
                               atol=1e-6)


def test_the_traced_output_keeps_the_dtype_the_call_gives():
    types = {"Index": {"extends": "Dense", "call": "argmax(base(inputs), axis=-1)"},
             "Again": {"extends": "Index"}}
    out = DeclarLayer(types=types, layer_type="Again", args={"units": 3})(keras.Input((4,)))
    assert tuple(out.shape) == (None,) and "int" in str(out.dtype)


@pytest.fixture(scope="module", params=BACKENDS)
def fresh(request, tmp_path_factory):
    return fresh_archives(tmp_path_factory, request.param)


def test_a_chain_of_custom_types_loads_in_a_fresh_process_bit_identical(fresh):
    assert_round_trip(fresh, "extends_chain")
