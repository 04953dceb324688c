"""Masks through custom types: a type masks as the built-in it extends, or as its declared `mask`
expression; its `call` may read the input's mask. Each model equals the same model written by hand
in Keras (where the mask changes the outputs), and loads in a fresh process bit-identical."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from fresh_roundtrip import BACKENDS, assert_round_trip, fresh_archives
from twins import assert_same_model, copy_weights, example_inputs

import declar

SPECS = Path(__file__).resolve().parent / "specs"


class _ScaledEmbedding(keras.layers.Embedding):
    def call(self, inputs):
        return super().call(inputs) * 2.0


class _Projection(keras.layers.Dense):
    def call(self, inputs):
        return keras.ops.tanh(super().call(inputs))


class _PaddedEmbedding(keras.layers.Embedding):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.supports_masking = True  # Keras's Embedding supports it only with mask_zero

    def compute_mask(self, inputs, mask=None):
        return keras.ops.not_equal(inputs, 1)


def _custom_embedding_twin(mask_zero: bool) -> keras.Model:
    return keras.Sequential([keras.Input((7,), dtype="int32"), _ScaledEmbedding(3, 4, mask_zero=mask_zero),
                             _Projection(5), keras.layers.LSTM(3)])


def test_a_type_extending_embedding_masks_as_the_embedding_through_a_type_extending_dense():
    model = assert_same_model(SPECS / "mask_custom_embedding.yaml", _custom_embedding_twin(mask_zero=True))
    # The inputs hold padding (token 0), and the mask changes the outputs: without it they differ.
    x = example_inputs(model)
    assert (x == 0).any()
    unmasked = _custom_embedding_twin(mask_zero=False)
    copy_weights(model, unmasked)
    assert not np.allclose(model.predict(x, verbose=0), unmasked.predict(x, verbose=0), atol=1e-4)


def test_a_declared_mask_and_a_call_reading_the_mask_are_the_same_model():
    tokens = keras.Input((7,), dtype="int32")
    sequence = keras.layers.LSTM(3, return_sequences=True)(_PaddedEmbedding(3, 4)(tokens))
    twin = keras.Model(tokens, keras.layers.GlobalAveragePooling1D()(sequence))  # averages the unmasked steps
    model = assert_same_model(SPECS / "mask_declared.yaml", twin)
    unmasked = keras.Sequential([keras.Input((7,), dtype="int32"), keras.layers.Embedding(3, 4),
                                 keras.layers.LSTM(3, return_sequences=True), keras.layers.GlobalAveragePooling1D()])
    copy_weights(model, unmasked)
    x = example_inputs(model)
    assert not np.allclose(model.predict(x, verbose=0), unmasked.predict(x, verbose=0), atol=1e-4)
    mask = model.get_layer("embedded").compute_mask(keras.ops.convert_to_tensor([[1, 2, 0]]))
    assert keras.ops.convert_to_numpy(mask).tolist() == [[False, True, True]]
    assert model.get_layer("pooled").compute_mask(keras.ops.ones((1, 7, 3)), mask) is None


def test_a_type_extending_layer_without_a_mask_does_not_claim_one():
    layer = declar.keras.layer.DeclarLayer(types={"Id": {"extends": "Layer"}}, layer_type="Id")
    assert not layer.supports_masking and layer.compute_mask(keras.ops.ones((1, 2))) is None


HEAD = """declar: 2
name: masks
inputs:
  tokens: {shape: [7], dtype: int32}
layers:
  Padded:
    extends: Embedding
"""  # the type's next member is on line 8


@pytest.mark.parametrize(("member", "expected"), [
    ("mask: not_equal(inputs, padding)",
     "spec.yaml:8:29: error: unknown name 'padding' in mask of Padded (names here: inputs, mask)"),
    ("mask: base(inputs)",
     "spec.yaml:8:11: error: unknown function 'base' (base() exists only in a custom layer's call)"),
    ("masks: not_equal(inputs, 0)",
     "spec.yaml:8:5: error: unknown key 'masks'"),
])
def test_a_mistaken_mask_is_located_in_its_expression(tmp_path, member, expected):
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + f"    {member}\nmodel:\n  - Padded: {{input_dim: 3, output_dim: 2}}\n")
    rendered = [p.render().replace(str(spec), "spec.yaml") for p in declar.validate(spec)]
    assert len(rendered) == 1 and rendered[0].startswith(expected), rendered


@pytest.fixture(scope="module", params=BACKENDS)
def fresh(request, tmp_path_factory):
    return fresh_archives(tmp_path_factory, request.param)


def test_masked_models_load_in_a_fresh_process_bit_identical(fresh):
    for name in ("mask_custom_embedding", "mask_declared"):
        assert_round_trip(fresh, name)
