"""Layer calls with further arguments by name (`call:`): built as Keras calls them, checked at
validate against the layer's call signature (the catalog's `layer_calls`), round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from lang_helpers import SPECS, assert_roundtrip_identical, header, roundtrip_dir, validate_lines
from twins import assert_same_model

import declar
from declar.spec.catalog import catalog

HEADER = header({"x": [6, 8], "m": [4, 8]})
SCALED = header({"x": [4]}, {"Scaled": '{extends: Dense, call: "base(inputs) * 2"}'})


@pytest.fixture(scope="session")
def lang_roundtrip(tmp_path_factory):
    return roundtrip_dir(tmp_path_factory.getbasetemp())  # one save and one load process for every file


def attention_twin() -> keras.Model:
    tokens, memory = keras.Input((6, 8), name="tokens"), keras.Input((4, 8), name="memory")
    self_attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(tokens, tokens, use_causal_mask=True)
    cross, scores = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(
        self_attention, memory, memory, return_attention_scores=True)
    head = keras.layers.Dense(3)(cross)
    return keras.Model([tokens, memory], {"head": head, "scores": scores})


def test_attention_with_call_arguments_is_the_model_written_by_hand():
    model = assert_same_model(SPECS / "attention_calls.yaml", attention_twin())
    x = [np.random.default_rng(1).random((2, 6, 8), dtype="float32"),
         np.random.default_rng(2).random((2, 4, 8), dtype="float32")]
    scores = model.predict(x, verbose=0)["scores"]
    assert scores.shape == (2, 2, 6, 4)  # the cross-attention's scores, over the memory's 4 steps
    assert np.allclose(scores.sum(-1), 1.0, atol=1e-5)


def test_the_causal_mask_reaches_the_layer():
    built = declar.build(str(SPECS / "attention_calls.yaml"), compile=False)
    tokens = np.random.default_rng(0).random((1, 6, 8), dtype="float32")
    memory = np.random.default_rng(1).random((1, 4, 8), dtype="float32")
    changed = tokens.copy()
    changed[0, -1] += 1.0  # the last step changes: with a causal mask, earlier outputs cannot see it
    a, b = built.predict([tokens, memory], verbose=0), built.predict([changed, memory], verbose=0)
    assert np.allclose(a["head"][0, :-1], b["head"][0, :-1], atol=1e-6)
    assert not np.allclose(a["head"][0, -1], b["head"][0, -1], atol=1e-6)


def test_call_arguments_round_trip_in_a_fresh_process(lang_roundtrip):
    assert_roundtrip_identical(lang_roundtrip, "attention_calls")


def test_the_catalog_knows_the_call_signatures_of_keras_layers():
    calls = catalog().layer_calls
    assert calls["MultiHeadAttention"][:3] == ("query", "value", "key")
    assert "initial_state" in calls["LSTM"]
    assert catalog().layer_calls_required["MultiHeadAttention"] == ("query", "value")
    assert catalog().custom_layer_call[0] == "inputs"


def test_an_unknown_call_argument_is_located_with_did_you_mean(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    att:
      MultiHeadAttention: {num_heads: 2, key_dim: 4}
      inputs: x
      call: {value: x, use_casual_mask: true}
  outputs: att
""")
    assert lines == ["spec.yaml:11:24: error: 'MultiHeadAttention' has no call argument 'use_casual_mask' "
                     "(did you mean 'use_causal_mask'?)"]


def test_a_required_call_argument_missing_is_reported(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    att: {MultiHeadAttention: {num_heads: 2, key_dim: 4}, inputs: x}
  outputs: att
""")
    assert lines == ["spec.yaml:8:5: error: 'MultiHeadAttention' needs call argument 'value' "
                     "(add `call: {value: <a tensor>}`)"]


def test_a_list_of_inputs_for_separate_tensors_is_refused_with_a_hint_naming_call(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    att: {MultiHeadAttention: {num_heads: 2, key_dim: 4}, inputs: [x, m], call: {value: m}}
  outputs: att
""")
    assert lines == ["spec.yaml:8:67: error: 'MultiHeadAttention' takes separate tensors (query, value, key...), "
                     "not one list (give the first one as inputs and the others under call: (e.g. "
                     "`call: {value: ...}`))"]


def test_inputs_may_be_left_out_when_call_names_the_first_argument(tmp_path):
    assert validate_lines(tmp_path, HEADER + """\
    att: {MultiHeadAttention: {num_heads: 2, key_dim: 4}, call: {query: x, value: m}}
  outputs: att
""") == ["valid"]


def test_the_first_argument_given_twice_is_refused(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    att: {MultiHeadAttention: {num_heads: 2, key_dim: 4}, inputs: x, call: {query: x, value: m}}
  outputs: att
""")
    assert lines == ["spec.yaml:8:77: error: 'query' is given twice: by inputs and under call (remove one of them)"]


def test_a_call_reference_to_nothing_is_located_with_did_you_mean(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    att: {MultiHeadAttention: {num_heads: 2, key_dim: 4}, inputs: x, call: {value: mm}}
  outputs: att
""")
    assert lines == ["spec.yaml:8:84: error: 'mm' is neither an input nor a node (did you mean 'm'?)"]


def test_a_node_used_only_through_call_is_used_and_ordered_before_its_user(tmp_path):
    assert validate_lines(tmp_path, HEADER + """\
    att: {MultiHeadAttention: {num_heads: 2, key_dim: 4}, inputs: x, call: {value: proj}}
    proj: {Dense: {units: 8}, inputs: m}
  outputs: att
""") == ["valid"]


def test_a_cycle_through_call_is_refused(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    a: {MultiHeadAttention: {num_heads: 2, key_dim: 4}, inputs: x, call: {value: b}}
    b: {Dense: {units: 8}, inputs: a}
  outputs: b
""")
    assert lines == ["spec.yaml:8:5: error: cycle in the graph: a -> b -> a (a node cannot depend on itself)"]


def test_a_custom_type_takes_the_call_arguments_of_declars_layer(tmp_path):
    lines = validate_lines(tmp_path, SCALED + """\
    s: {Scaled: {units: 2}, inputs: x, call: {training: false, masks: x}}
  outputs: s
""")
    assert lines == ["spec.yaml:9:64: error: 'Scaled' has no call argument 'masks' (did you mean 'mask'?)"]


def test_a_custom_type_takes_a_constant_call_argument(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(SCALED + """\
    scaled: {Scaled: {units: 4, kernel_initializer: identity, use_bias: false}, inputs: x, call: {training: false}}
  outputs: scaled
""")
    model = declar.build(str(spec), compile=False)
    x = np.random.default_rng(0).random((2, 4), dtype="float32")
    assert np.allclose(model.predict(x, verbose=0), 2 * x, atol=1e-6)
