"""The spec language v2 attacked as a hostile user would (issue 14): every construct through
validate, build and load, each test named after the attack it stops."""

from __future__ import annotations

import json
import time
import tracemalloc
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from lang_helpers import SPECS, header, validate_lines
from test_hostile_archives import rewrite

import declar
from declar.archive import ArchiveError
from declar.errors import BuildError
from declar.keras.layer import SEED_STATE

HEADER = header({"x": [4]})  # the first node at line 7


def write(tmp_path: Path, body: str, outputs: str = "o") -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEADER + body + f"  outputs: {outputs}\n")
    return spec


def build_error(spec: Path) -> str:
    with pytest.raises(BuildError) as err:
        declar.build(spec)
    return str(err.value).replace(str(spec), "spec.yaml")


# -- op nodes that move examples across the batch axis ----------------------------------------
# Every size check of an op counts per example on symbolic tensors whose batch is None, so an op
# that joins or repeats examples along axis 0 looked as small as its input: a chain of them made
# one example into billions of rows at the first predict.

@pytest.mark.parametrize(("op", "rows"), [
    ("concatenate([x, x], axis=0)", "4 rows for 2 examples (shape (4, 4)) and 6 for 3 (shape (6, 4))"),
    ("repeat(x, 100000, axis=0)", "200000 rows for 2 examples"),
    ("tile(x, [100000, 1])", "200000 rows for 2 examples"),
    ("reshape(x, [-1, 1])", "8 rows for 2 examples (shape (8, 1))"),
    ("transpose(x)", "4 rows for 2 examples (shape (4, 2)) and 4 for 3 (shape (4, 3))"),
    ("expand_dims(x, 0)", "1 rows for 2 examples (shape (1, 2, 4))"),
])
def test_op_growing_or_moving_the_batch_axis_is_refused_at_build(tmp_path, op, rows):
    message = build_error(write(tmp_path, f'    o: {{op: "{op}"}}\n'))
    assert message.startswith(f"spec.yaml:7:8: error: op: {op}: the result has {rows}"), message
    assert "an op keeps axis 0 as the batch" in message


def test_chain_of_batch_repeats_under_the_per_example_limit_is_refused(tmp_path):
    # each op is 400,000 elements "per example"; together 10**10 rows of 4 floats for one example
    body = "".join(f'    r{i}: {{op: "repeat({"x" if i == 0 else f"r{i - 1}"}, 100000, axis=0)"}}\n'
                   for i in range(2))
    message = build_error(write(tmp_path, body, outputs="r1"))
    assert message.startswith("spec.yaml:7:9: error: op: repeat(x, 100000, axis=0): the result has 200000 rows")


def test_ops_keeping_the_batch_axis_still_build_and_compute(tmp_path):
    body = ('    a: {op: "x[:, 0:2] + arange(0, 2)"}\n'
            '    b: {op: "reshape(x, [-1, 2, 2])"}\n'
            '    c: {op: "stack([a, a], axis=1) + b"}\n'
            '    o: {op: "sum(c, axis=1)"}\n')
    model = declar.build(write(tmp_path, body))
    x = np.arange(12, dtype="float32").reshape(3, 4)
    a = x[:, 0:2] + np.arange(2)
    expected = (np.stack([a, a], axis=1) + x.reshape(-1, 2, 2)).sum(axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)


def test_archive_with_an_op_joining_examples_is_refused(tmp_path):
    saved = tmp_path / "ops.keras"
    declar.save(SPECS / "tensor_ops.yaml", saved)
    with zipfile.ZipFile(saved) as z:
        config = json.loads(z.read("config.json"))
    config["config"]["spec"]["model"]["nodes"]["first"]["op"] = "concatenate([summed, summed], axis=0)[:, 0]"
    config["config"]["sha256"] = None
    crafted = rewrite(saved, tmp_path / "crafted.keras", config)
    with pytest.raises(ArchiveError) as err:
        declar.load(crafted)
    assert "an op keeps axis 0 as the batch" in str(err.value)
    with pytest.raises(Exception, match="axis 0 as the batch"):
        keras.models.load_model(crafted)


# -- op nodes that are constants ---------------------------------------------------------------
# An op over no input and no layer is computed once at build as a constant; a layer or the model's
# outputs given one ended in "internal error: ValueError: All `outputs` values must be KerasTensors".

def test_constant_as_an_output_is_refused_at_validate_and_a_layer_may_take_one(tmp_path):
    # A layer on a constant (a position Embedding) is kept in the graph (declar.keras.constant), and
    # is itself a constant: as an output it has no batch axis, like the op it reads.
    lines = validate_lines(tmp_path, HEADER + (
        '    p: {op: "arange(0, 4)"}\n'
        '    q: {op: "p * 2"}\n'
        '    d: {Dense: {units: 2}, inputs: q}\n'
        '    s: {op: "x + q"}\n'
        '    e: {Dense: {units: 2}, call: {inputs: s}}\n'
        '  outputs: [e, d, q]\n'))
    hint = "(combine '{0}' with an input or a node (in an op, or a layer that reads one))"
    assert lines == [
        "spec.yaml:12:16: error: 'd' depends on no input of the graph: a constant without a batch axis, so output "
        "'d' cannot be it " + hint.format("d"),
        "spec.yaml:12:19: error: 'q' depends on no input of the graph: a constant without a batch axis, so output "
        "'q' cannot be it " + hint.format("q"),
    ]


def test_constant_op_alone_as_the_output_is_refused_at_validate(tmp_path):
    lines = validate_lines(tmp_path, HEADER + '    o: {op: "3"}\n  outputs: o\n')
    assert lines[0].startswith("spec.yaml:8:12: error: 'o' depends on no input of the graph"), lines


# -- block arguments computed from the use's values ----------------------------------------------
# Validate checked a block's parameter expressions as text only: values that made a layer's
# argument wrong (negative, fractional, past the power limit) passed validate and failed at build.

BLOCK = """\
declar: 2
name: m
inputs:
  x: {shape: [4]}
blocks:
  R:
    params:
      n: {type: integer}
    nodes:
      d: {Dense: {units: %s}, inputs: inputs}
    outputs: d
model:
  nodes:
    o: {R: {n: %s}, inputs: x}
  outputs: o
"""


@pytest.mark.parametrize(("units", "n", "problem"), [
    ("n - 200", "100", "units: -100 is out of range (minimum 1)"),
    ("n / 3", "100", "units: expected integer, got number 33.333333333333336 (Positive integer, dimensionality "
                     "of the output space.)"),
    ("n ** n", "100000", "the result would have about 1,700,000 bits, over the limit of 4,096 (give the block "
                         "other values)"),
])
def test_block_values_making_a_bad_layer_argument_are_refused_at_validate(tmp_path, units, n, problem):
    assert validate_lines(tmp_path, BLOCK % (units, n)) == [f"spec.yaml:14:12: error: block 'R', node 'd': {problem}"]


def test_block_values_making_good_arguments_still_validate(tmp_path):
    assert validate_lines(tmp_path, BLOCK % ("n * 2 - 1", "3")) == ["valid"]
    assert declar.build(tmp_path / "spec.yaml").get_layer("o").get_layer("d").units == 5


# -- hangs -------------------------------------------------------------------------------------
# Each op node's check copied the set of every name in the graph: validate of 10,000 nodes (ops
# and layer calls alternating, the layer limit) took 22 s, quadratic in the nodes (3 s now).

def test_validate_of_ten_thousand_op_and_call_nodes_is_linear(tmp_path):
    lines = [HEADER.rstrip("\n")]
    for i in range(10_000):
        prev = "x" if i == 0 else f"n{i - 1}"
        lines.append(f'    n{i}: {{op: "{prev} + 1"}}' if i % 2 == 0 else
                     f"    n{i}: {{Dense: {{units: 4}}, inputs: {prev}, call: {{training: false}}}}")
    spec = tmp_path / "spec.yaml"
    spec.write_text("\n".join(lines) + "\n  outputs: n9999\n")
    start = time.perf_counter()
    assert declar.validate(spec) == []
    assert time.perf_counter() - start < 12, "validate is quadratic in the op nodes again"


def test_validate_of_a_chain_of_sixteen_thousand_let_names_is_linear(tmp_path):
    # each let name's check copied every earlier name and hint: 49 s before, under 2 s now
    lets = "".join(f'        h{i}: "{"inputs" if i == 0 else f"h{i - 1}"} + 1"\n' for i in range(16_000))
    spec = tmp_path / "spec.yaml"
    spec.write_text(header({"x": [4]}, {"Chain": "{extends: Layer, call: {let: {}, return: h0}}"}).replace(
        "  Chain: {extends: Layer, call: {let: {}, return: h0}}\n",
        f"  Chain:\n    extends: Layer\n    call:\n      let:\n{lets}      return: h15999\n")
        + "    o: {Chain: {}, inputs: x}\n  outputs: o\n")
    start = time.perf_counter()
    assert declar.validate(spec) == []
    assert time.perf_counter() - start < 12, "let checks are quadratic again"


# -- tampered archives -------------------------------------------------------------------------

def test_a_huge_tampered_seed_state_is_refused_without_listing_it():
    # the refusal listed the state with tolist() before cutting it to four values: 20 million
    # floats became 700 MB of Python objects before the error was raised
    spec = ('declar: 2\nname: m\nseed: 5\ninputs:\n  x: {shape: [4]}\nlayers:\n  Noise:\n    extends: Layer\n'
            '    call: "inputs + random_normal([4])"\nmodel:\n  nodes:\n    noise: {Noise: {}, inputs: x}\n'
            '  outputs: noise\n')
    layer = declar.build(spec, compile=False).get_layer("noise")
    tampered = np.zeros((20_000_000,), "float32")
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"state float32 of shape \(20000000,\) \[0.0, 0.0, 0.0, 0.0\] does not fit"):
        layer.load_own_variables({SEED_STATE: tampered})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50_000_000, f"{peak:,} bytes allocated to refuse the state"


def test_a_bad_block_value_is_reported_once(tmp_path):
    # an ill-typed default, or a computed argument the gate refuses, is one problem, not one per check
    text = BLOCK.replace("n: {type: integer}", "n: {type: integer, default: 'n'}").replace("{n: %s}", "{}")
    assert validate_lines(tmp_path, text % "n") == ["spec.yaml:8:35: error: 'n' expects integer, got str 'n'"]
    text = BLOCK.replace("n: {type: integer}", "n: {type: string}").replace("units: %s", "units: 3, activation: %s")
    lines = validate_lines(tmp_path, text % ("n", "Lambda"))
    assert len(lines) == 1, lines
    assert lines[0].startswith("spec.yaml:14:9: error: block 'R', node 'd': unknown activation")
