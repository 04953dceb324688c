"""References to one output of a node (`enc[1]`): in inputs, call values, outputs and op
expressions; built by indexing the layer's outputs, refused at validate where the catalog knows the
layer returns one tensor; round trips."""

from __future__ import annotations

import keras
import pytest
from lang_helpers import SPECS, assert_roundtrip_identical, header, roundtrip_dir, validate_lines
from twins import assert_same_model

from declar.spec.refs import Ref, parse_ref

HEADER = header({"x": [5, 4]})


@pytest.fixture(scope="session")
def lang_roundtrip(tmp_path_factory):
    return roundtrip_dir(tmp_path_factory.getbasetemp())  # one save and one load process for every file


def seq2seq_twin() -> keras.Model:
    source, target = keras.Input((5, 4), name="source"), keras.Input((7, 3), name="target")
    encoded, h, c = keras.layers.LSTM(6, return_state=True)(source)
    decoded = keras.layers.LSTM(6, return_sequences=True)(target, initial_state=[h, c])
    next_char = keras.layers.Dense(3, activation="softmax")(decoded)
    return keras.Model([source, target], [next_char, encoded])


def test_lstm_states_start_the_decoder_as_in_the_model_written_by_hand():
    model = assert_same_model(SPECS / "lstm_states.yaml", seq2seq_twin())
    assert [tuple(o.shape) for o in model.outputs] == [(None, 7, 3), (None, 6)]


def test_output_references_round_trip_in_a_fresh_process(lang_roundtrip):
    assert_roundtrip_identical(lang_roundtrip, "lstm_states")
    assert_roundtrip_identical(lang_roundtrip, "attention_calls")  # outputs `cross[1]`


def test_a_reference_is_a_name_and_perhaps_an_index():
    assert parse_ref("enc[2]") == Ref("enc", 2)
    assert parse_ref("out[logits]") == Ref("out", "logits")
    assert parse_ref("enc") == Ref("enc", None)


ONE_TENSOR = {
    "a layer returning one tensor": ("""\
    d: {Dense: {units: 2}, inputs: x}
    e:
      Dense: {units: 2}
      inputs: d[1]
  outputs: e
""", "spec.yaml:10:15: error: node 'd' is one tensor: [1] picks nothing (write 'd' without the index)"),
    "an LSTM without return_state": ("""\
    enc: {LSTM: {units: 3}, inputs: x}
  outputs: enc[1]
""", "spec.yaml:8:12: error: node 'enc' is one tensor: [1] picks nothing (write 'enc' without the index)"),
    "an input": ("""\
    d:
      Dense: {units: 2}
      inputs: x[0]
  outputs: d
""", "spec.yaml:9:15: error: input 'x' is one tensor: [0] picks nothing (write 'x' without the index)"),
}


@pytest.mark.parametrize("case", ONE_TENSOR)
def test_an_index_on_one_tensor_is_refused(tmp_path, case):
    nodes, expected = ONE_TENSOR[case]
    assert validate_lines(tmp_path, HEADER + nodes) == [expected]


def test_an_indexed_reference_to_no_node_is_located_with_did_you_mean(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    enc: {LSTM: {units: 3, return_state: true}, inputs: x}
    d:
      Dense: {units: 2}
      inputs: encc[0]
  outputs: d
""")
    assert "spec.yaml:10:15: error: 'encc' is neither an input nor a node (did you mean 'enc'?)" in lines


def test_an_output_reference_to_a_state_validates_and_marks_the_node_used(tmp_path):
    assert validate_lines(tmp_path, HEADER + """\
    enc: {LSTM: {units: 3, return_state: true}, inputs: x}
  outputs:
    - enc[0]
    - enc[2]
""") == ["valid"]


def test_a_malformed_reference_is_refused(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    enc: {LSTM: {units: 3, return_state: true}, inputs: x}
  outputs: enc[-1]
""")
    assert lines == ["spec.yaml:8:12: error: output 'enc[-1]' is not a node (did you mean 'enc'?)"]
