"""Tensor operations between layers (`op:` nodes): the safe expression language over the graph's
names, checked at validate at the character, built over keras.ops on the symbolic tensors, round
trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from lang_helpers import SPECS, assert_roundtrip_identical, header, roundtrip_dir, validate_lines
from twins import assert_same_model

import declar
from declar.errors import BuildError

HEADER = header({"x": [4, 5], "y": [4, 5]})


@pytest.fixture(scope="session")
def lang_roundtrip(tmp_path_factory):
    return roundtrip_dir(tmp_path_factory.getbasetemp())  # one save and one load process for every file


def ops_twin() -> keras.Model:
    features, context = keras.Input((4, 5), name="features"), keras.Input((4, 5), name="context")
    summed = keras.layers.Dense(5)(features) + context
    first = summed[:, 0]
    b, c = keras.layers.Dense(5)(first), keras.layers.Dense(5, activation="tanh")(first)
    stacked = keras.ops.stack([b, c], axis=1)
    return keras.Model([features, context], keras.layers.Dense(2)(stacked))


def test_sum_slice_and_stack_are_the_model_written_by_hand():
    model = assert_same_model(SPECS / "tensor_ops.yaml", ops_twin())
    assert tuple(model.output.shape) == (None, 2, 2)  # shapes inferred by Keras through the ops


def test_op_nodes_round_trip_in_a_fresh_process(lang_roundtrip):
    assert_roundtrip_identical(lang_roundtrip, "tensor_ops")


def test_an_op_indexes_a_node_returning_several_tensors(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("""
declar: 2
name: m
inputs:
  x: {shape: [5, 4]}
model:
  nodes:
    enc: {LSTM: {units: 3, return_state: true}, inputs: x}
    both: {op: "enc[1] + enc[2]"}
  outputs: both
""")
    model = declar.build(str(spec), compile=False)
    lstm = model.get_layer("enc")
    x = np.random.default_rng(0).random((2, 5, 4), dtype="float32")
    _, h, c = lstm(x)
    assert np.allclose(model.predict(x, verbose=0), keras.ops.convert_to_numpy(h + c), atol=1e-6)


def test_an_op_output_over_the_size_limit_is_refused_at_validate_when_its_constants_tell(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    big: {op: "tile(x, [1, 100000, 100000])"}
  outputs: big
""")
    assert lines == ["spec.yaml:8:24: error: tile() would make 10,000,000,000 elements per example, over the limit "
                     "of 500,000,000 (raise Limits.max_variable_elements if this is intended; inputs count as one "
                     "element here, the build checks the real sizes)"]


def test_an_op_output_over_the_size_limit_is_refused_at_build_from_the_real_shapes(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(HEADER.replace("[4, 5]}\n  y", "[1000, 1000]}\n  y") + """\
    big: {op: "tile(x, [1, 1, 1000])"}
    out: {Dense: {units: 1}, inputs: big}
  outputs: out
""")
    with pytest.raises(BuildError) as caught:
        declar.build(str(spec), compile=False)
    assert caught.value.problems[0].render() == (
        f"{spec}:8:10: error: op: tile(x, [1, 1, 1000]): tile() would make 1,000,000,000 elements per example, "
        "over the limit of 500,000,000 (raise Limits.max_variable_elements) (the op's expression failed on the "
        "graph's symbolic tensors)")


EXPRESSION_MISTAKES = {
    "an unknown name": ('"x + yy * 2"',
                        "spec.yaml:8:18: error: unknown name 'yy' in op of node 's' (did you mean 'y'?)"),
    "a function outside the table": ('"x + eval(y)"',
                                     "spec.yaml:8:18: error: unknown function 'eval' (did you mean 'equal'?)"),
    "attribute access": ('"x.__class__"', "spec.yaml:8:14: error: attribute access (.__class__) is not allowed "
                         "(expressions have no attribute access; `declar ops` lists the functions)"),
    "the node itself": ('"s + y"', "spec.yaml:8:14: error: unknown name 's' in op of node 's' (names here: x, y)"),
}


@pytest.mark.parametrize("case", EXPRESSION_MISTAKES)
def test_an_expression_mistake_is_located_at_its_character(tmp_path, case):
    expression, expected = EXPRESSION_MISTAKES[case]
    assert validate_lines(tmp_path, HEADER + f"    s: {{op: {expression}}}\n  outputs: s\n") == [expected]


def test_an_op_node_has_no_inputs_or_layer(tmp_path):
    lines = validate_lines(tmp_path, HEADER + """\
    s: {op: "x + y", inputs: x}
    t: {op: "s * 2", Dense: {units: 2}}
  outputs: t
""")
    assert lines == [
        "spec.yaml:8:22: error: node 's' has op: and inputs (an op node computes its expression over the names "
        "it uses: it has no layer, inputs, call, shares or repeat)",
        "spec.yaml:9:22: error: node 't' has op: and Dense (an op node computes its expression over the names "
        "it uses: it has no layer, inputs, call, shares or repeat)"]


def test_op_dependencies_order_the_build_and_mark_nodes_used(tmp_path):
    text = HEADER + """\
    s: {op: "d + y"}
    d: {Dense: {units: 5}, inputs: x}
    unused: {Dense: {units: 5}, inputs: x}
  outputs: s
"""
    assert validate_lines(tmp_path, text) == [
        "spec.yaml:10:5: error: node 'unused' does not lead to any output (remove it, or add it to outputs)"]
    spec = tmp_path / "ok.yaml"
    spec.write_text(text.replace("    unused: {Dense: {units: 5}, inputs: x}\n", ""))
    model = declar.build(str(spec), compile=False)
    assert tuple(model.output.shape) == (None, 4, 5)
