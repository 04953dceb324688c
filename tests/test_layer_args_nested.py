"""Layer-valued arguments written as layers (`Bidirectional: {layer: {LSTM: {units: 4}}}`): each
mistake located inside the nested mapping at validate, the models equal to the same models written
by hand in Keras, and their archives identical after a load in a fresh process."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
from fresh_roundtrip import BACKENDS, assert_round_trip, fresh_archives
from twin_layers import Scaled, Shifted
from twins import assert_same_model

import declar

SPECS = Path(__file__).resolve().parent / "specs"
HEAD = """declar: 2
name: nested
inputs:
  x: {shape: [5, 3]}
layers:
  Scaled:
    extends: Dense
    params:
      factor: {type: number, default: 2.0}
    call: base(inputs) * factor
  Recurrent:
    extends: LSTM
model:
"""  # the model's first layer is on line 14


def _problems(tmp_path: Path, *layers: str) -> list[str]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + "".join(f"  - {layer}\n" for layer in layers) + "  - Flatten: {}\n")
    return [p.render().replace(str(spec), "spec.yaml") for p in declar.validate(spec)]


@pytest.mark.parametrize(("layer", "expected"), [
    ("Bidirectional: {layer: {LSTMM: {units: 4}}}",
     "spec.yaml:14:29: error: unknown layer type 'LSTMM' (did you mean 'LSTM'?)"),
    ("Bidirectional: {layer: {LSTM: {units: 4, return_sequence: true}}}",
     "spec.yaml:14:46: error: 'LSTM' has no argument 'return_sequence' (did you mean 'return_sequences'?)"),
    ("Bidirectional: {layer: {LSTM: {activation: tanh}}}",
     "spec.yaml:14:29: error: 'LSTM' needs argument 'units'"),
    ("Bidirectional: {layer: {LSTM: {units: 4}}, backward_layer: {GRU: {units: 4, go_backward: true}}}",
     "spec.yaml:14:81: error: 'GRU' has no argument 'go_backward' (did you mean 'go_backwards'?)"),
    ("TimeDistributed: {layer: 5}",
     "spec.yaml:14:30: error: expected a layer, got int 5 (a layer written {LayerName: {arguments}}, "
     "e.g. {LSTM: {units: 8}})"),
    ("TimeDistributed: {layer: {Dense: 5}}",
     "spec.yaml:14:38: error: the arguments of Dense must be a mapping, got int 5 (write Dense: {...})"),
    ("TimeDistributed: {layer: {Scaled: {units: 4, factor: fast}}}",
     "spec.yaml:14:58: error: 'factor' expects number, got str 'fast'"),
    ("TimeDistributed: {layer: {Scaled: {units: 4, factr: 2}}}",
     "spec.yaml:14:50: error: 'Scaled' has no argument 'factr' (did you mean 'factor'?)"),
    ("TimeDistributed: {layer: {Dense: {units: 4, kernel_initializer: glorot_unifrm}}}",
     "spec.yaml:14:69: error: unknown initializer 'glorot_unifrm' (did you mean 'glorot_uniform'?)"),
    ("Bidirectional: {layer: {Scaled: {units: 4}}}",
     "spec.yaml:14:29: error: Bidirectional's 'layer' needs a recurrent layer, not the custom type Scaled (use a "
     "built-in one (LSTM, GRU, SimpleRNN, RNN...); a custom type can be wrapped by TimeDistributed or Pipeline)"),
    ("Bidirectional: {layer: {Recurrent: {units: 4}}}",
     "spec.yaml:14:29: error: Bidirectional's 'layer' needs a recurrent layer, not the custom type Recurrent (use a "
     "built-in one (LSTM, GRU, SimpleRNN, RNN...); a custom type can be wrapped by TimeDistributed or Pipeline)"),
    ("Bidirectional: {layer: {Dense: {units: 4}}}",
     "spec.yaml:14:29: error: Bidirectional's 'layer' needs a recurrent layer, not Dense (one of LSTM, GRU, "
     "SimpleRNN, RNN, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D)"),
    ("RNN: {cell: [{LSTMCell: {units: 2}}, {Dense: {units: 2}}]}",
     "spec.yaml:14:43: error: RNN's 'cell' needs a recurrent cell, not Dense (one of LSTMCell, GRUCell, "
     "SimpleRNNCell, StackedRNNCells)"),
    ("TimeDistributed: {layer: {TimeDistributed: {layer: {Lambda: {}}}}}",
     "spec.yaml:14:57: error: layer 'Lambda' runs a Python function; declar refuses it (write a custom layer type "
     "with a call expression instead)"),
])
def test_a_mistake_inside_a_nested_layer_is_located_with_a_hint(tmp_path, layer, expected):
    assert _problems(tmp_path, layer) == [expected]


def test_the_keras_form_still_validates_and_keeps_its_own_messages(tmp_path):
    assert _problems(tmp_path, "Bidirectional: {layer: {class_name: LSTM, config: {units: 4}}}") == []
    assert _problems(tmp_path, "Bidirectional: {layer: {class_name: LSTM, config: {unit: 4}}}") == [
        "spec.yaml:14:55: error: 'LSTM' needs argument 'units'",
        "spec.yaml:14:62: error: 'LSTM' has no argument 'unit' (did you mean 'units'?)"]


def test_wrappers_written_by_hand_in_keras_are_the_same_model():
    x = keras.Input((5, 3), name="x")
    projected = keras.layers.TimeDistributed(keras.layers.Dense(4, activation="tanh"))(x)
    both = keras.layers.Bidirectional(
        keras.layers.LSTM(4, return_sequences=True),
        backward_layer=keras.layers.GRU(4, return_sequences=True, go_backwards=True), merge_mode="concat")(projected)
    stacked = keras.layers.RNN([keras.layers.LSTMCell(3), keras.layers.GRUCell(2)])(both)
    old = keras.layers.Bidirectional(keras.layers.SimpleRNN(2))(projected)
    out = keras.layers.SpectralNormalization(keras.layers.Dense(1))(keras.layers.Concatenate()([stacked, old]))
    model = assert_same_model(SPECS / "nested_wrappers.yaml", keras.Model(x, out))
    assert isinstance(model.get_layer("both_ways").backward_layer, keras.layers.GRU)


def test_custom_types_inside_time_distributed_and_pipeline_are_the_same_model():
    twin = keras.Sequential([
        keras.Input((6, 4)), keras.layers.TimeDistributed(Scaled(5, 3.0)),
        keras.layers.TimeDistributed(Shifted(2, 0.5)), keras.layers.Activation("relu"), keras.layers.Flatten(),
        keras.layers.Pipeline([Scaled(3, 2.0), keras.layers.Dense(2)])])
    model = assert_same_model(SPECS / "nested_custom.yaml", twin)
    wrapped = model.get_layer("per_step").base.layer
    assert type(wrapped).__name__ == "DeclarLayer" and wrapped.definition.name == "Shifted"


@pytest.fixture(scope="module", params=BACKENDS)
def fresh(request, tmp_path_factory):
    return fresh_archives(tmp_path_factory, request.param)


@pytest.mark.parametrize("name", ["nested_wrappers", "nested_custom"])
def test_nested_layers_load_in_a_fresh_process_bit_identical(fresh, name):
    assert_round_trip(fresh, name)


def test_nested_layers_are_named_the_same_whatever_was_built_before():
    # Keras's default names count the layers made so far in the process (lstm_3); a nested layer is
    # named after its class, so the weight paths of a spec do not depend on the process's history.
    first = [w.path for w in declar.build(SPECS / "nested_wrappers.yaml", compile=False).weights]
    for make in (keras.layers.LSTM, keras.layers.GRU, keras.layers.Dense, keras.layers.LSTMCell):
        make(2)  # each advances Keras's name counter of its class
    again = [w.path for w in declar.build(SPECS / "nested_wrappers.yaml", compile=False).weights]
    assert first == again
    assert "both_ways/forward_lstm/lstm_cell/kernel" in first and "out/dense/kernel" in first
