"""Every bound of `declar.Limits` is enforced with a located problem, and raising it lets the input through.

Hostile inputs here would take far longer than the test (minutes, or all the memory) without their
limit; the tests only assert that they finish with the right problem, not how fast.
"""

from __future__ import annotations

import itertools
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import declar
from declar import Limits
from declar.errors import Problem

HEAD = "declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\n"


def assert_located(problems: list[Problem], code: str, text: str | None = None) -> Problem:
    """Exactly one problem of ``code``, at a real position of the text, with a message."""
    found = [p for p in problems if p.code == code]
    assert found, problems
    p = found[0]
    assert p.line >= 1 and p.col >= 1 and p.message
    if text is not None:
        lines = text.split("\n")
        assert p.line <= len(lines), p
        assert p.col <= len(lines[p.line - 1]) + 1, p
    return p


def variable_spec(shape: str) -> str:
    return (HEAD + "layers:\n  T:\n    extends: Layer\n    variables:\n"
            f"      w: {{shape: \"{shape}\", initializer: zeros}}\n    call: inputs\nmodel:\n  - T: {{}}\n")


def call_spec(call: str) -> str:
    return HEAD + f"layers:\n  T:\n    extends: Layer\n    call: \"{call}\"\nmodel:\n  - T: {{}}\n"


def any_default_spec(default_yaml: str) -> str:
    """A spec whose one free-form place (a param of type any) holds ``default_yaml`` (indented block)."""
    return (HEAD + "layers:\n  T:\n    extends: Layer\n    params:\n      p:\n        type: any\n        default:"
            + default_yaml + "\nmodel:\n  - T: {}\n")


def test_defaults_are_the_documented_ones():
    assert Limits() == Limits(max_file_bytes=2_000_000, max_yaml_nodes=200_000, max_yaml_depth=64,
                              max_layers=10_000, max_expression_chars=2_000, max_expression_depth=32,
                              max_variable_elements=500_000_000, max_power_bits=4_096)


# -- file size -------------------------------------------------------------------------------------

def big_spec() -> str:
    """A valid spec of about 2.1 MB: a long description."""
    return HEAD + "model:\n  - Dense: {units: 1}\ndescription: " + "x" * 2_100_000 + "\n"


def test_file_size_limit_from_path(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(big_spec())
    assert path.stat().st_size > 2_000_000
    p = assert_located(declar.validate(path), "file-too-large")
    assert (p.line, p.col) == (1, 1)
    assert "2,000,000" in p.message and f"{path.stat().st_size:,}" in p.message
    assert declar.validate(path, Limits(max_file_bytes=3_000_000)) == []
    assert declar.validate(str(path), limits=Limits(max_file_bytes=3_000_000)) == []


def test_file_size_limit_from_text():
    text = big_spec()
    assert_located(declar.validate(text), "file-too-large")
    assert declar.validate(text, Limits(max_file_bytes=3_000_000)) == []


def test_file_size_counts_bytes_not_characters():
    text = HEAD + "model:\n  - Dense: {units: 1}\ndescription: " + "é" * 1_050_000 + "\n"  # 2.1 MB of UTF-8
    assert len(text) < 2_000_000 < len(text.encode())
    assert_located(declar.validate(text), "file-too-large")


# -- YAML nodes (alias bombs) ----------------------------------------------------------------------

def alias_bomb(levels: int, fanout: int = 10) -> str:
    names = "abcdefghijklmnop"[:levels]
    body = f"\n          {names[0]}: &{names[0]} [" + ", ".join(["lol"] * fanout) + "]"
    for prev, cur in itertools.pairwise(names):
        body += f"\n          {cur}: &{cur} [" + ", ".join([f"*{prev}"] * fanout) + "]"
    return any_default_spec(body)


def test_billion_laughs_is_refused():
    """10**9 strings from a few hundred bytes: minutes and gigabytes without the node limit."""
    text = alias_bomb(9)
    assert len(text) < 2_000
    start = time.monotonic()
    problems = declar.validate(text)
    elapsed = time.monotonic() - start
    p = assert_located(problems, "yaml-too-large", text)
    assert "200,000" in p.message
    bomb_lines = range(text.split("\n").index("        default:") + 2, text.count("\n") + 1)
    assert p.line in bomb_lines
    print(f"billion laughs refused in {elapsed:.2f} s")


def test_alias_bomb_under_a_raised_node_limit_passes():
    text = alias_bomb(5, fanout=6)  # 6**5 + ... = about 9,300 nodes
    assert_located(declar.validate(text, Limits(max_yaml_nodes=5_000)), "yaml-too-large", text)
    assert declar.validate(text, Limits(max_yaml_nodes=20_000)) == []


def test_node_limit_counts_plain_nodes_too():
    items = ", ".join(["1"] * 3_000)
    text = any_default_spec(f" [{items}]")
    assert_located(declar.validate(text, Limits(max_yaml_nodes=2_000)), "yaml-too-large", text)
    assert declar.validate(text) == []


# -- YAML depth ------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [70, 500, 100_000])
def test_deep_yaml_is_refused(depth):
    text = any_default_spec(" " + "[" * depth + "]" * depth)
    problems = declar.validate(text)
    assert problems and all(p.line >= 1 and p.col >= 1 for p in problems)
    assert {p.code for p in problems} & {"yaml-too-deep", "yaml-syntax"}  # libyaml stops at its own 1,000


def test_depth_limit_is_located_and_can_be_raised():
    text = any_default_spec(" " + "[" * 80 + "]" * 80)
    p = assert_located(declar.validate(text), "yaml-too-deep", text)
    assert "64" in p.message and p.line == text.count("\n") - 2
    assert declar.validate(text, Limits(max_yaml_depth=200)) == []


def test_deep_block_mappings_are_refused():
    text = "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v: 1\n"
    assert_located(declar.validate(text), "yaml-too-deep", text)


# -- layers ----------------------------------------------------------------------------------------

def sequential(n: int) -> str:
    return HEAD + "model:\n" + "".join("  - Dense: {units: 2}\n" for _ in range(n))


def graph(n: int) -> str:
    nodes = "".join(f"    n{i}: {{layer: Dense, args: {{units: 2}}, inputs: {'x' if i == 0 else f'n{i - 1}'}}}\n"
                    for i in range(n))
    return HEAD + f"model:\n  nodes:\n{nodes}  outputs: n{n - 1}\n"


@pytest.mark.parametrize("make", [sequential, graph])
def test_layer_limit(make):
    text = make(51)
    p = assert_located(declar.validate(text, Limits(max_layers=50)), "too-many-layers", text)
    assert "51" in p.message and "50" in p.message
    assert declar.validate(text, Limits(max_layers=51)) == []
    assert declar.validate(make(50), Limits(max_layers=50)) == []


def test_default_layer_limit():
    text = sequential(10_001)
    assert_located(declar.validate(text), "too-many-layers", text)
    assert declar.validate(text, Limits(max_layers=10_001)) == []


# -- expressions -----------------------------------------------------------------------------------

def long_flat_call(chars: int) -> str:
    """A shallow expression (a list of names) of at least ``chars`` characters."""
    count = chars // len("inputs, ") + 1
    return "concatenate([" + ", ".join(["inputs"] * count) + "], axis=-1)"


def test_expression_length_limit():
    call = long_flat_call(2_001)
    assert 2_000 < len(call) < 2_100
    text = call_spec(call)
    p = assert_located(declar.validate(text), "expression-too-long", text)
    assert f"{len(call):,}" in p.message and "2,000" in p.message
    assert declar.validate(text, Limits(max_expression_chars=3_000)) == []


def test_expression_length_limit_in_shape_and_function():
    shape = "[" + " + ".join(["1"] * 700) + "]"
    text = variable_spec(shape)
    assert_located(declar.validate(text), "expression-too-long", text)
    expr = f"mean({long_flat_call(2_001).replace('inputs', 'y_pred')})"
    fn = HEAD + ("model:\n  - Dense: {units: 1}\ncompile: {optimizer: sgd, loss: f}\nfunctions:\n  f:\n"
                 f"    args: [y_true, y_pred]\n    expr: \"{expr}\"\n")
    assert_located(declar.validate(fn), "expression-too-long", fn)
    assert declar.validate(fn, Limits(max_expression_chars=3_000)) == []


@pytest.mark.parametrize("call", ["relu(" * 40 + "inputs" + ")" * 40, "-" * 40 + "inputs",
                                  "-" * 1_990 + "inputs", "inputs" + " + inputs" * 200,
                                  "[" * 40 + "inputs" + "]" * 40])
def test_expression_depth_limit(call):
    text = call_spec(call)
    p = assert_located(declar.validate(text), "expression-too-deep", text)
    assert "32" in p.message


def test_expression_depth_limit_can_be_raised():
    text = call_spec("relu(" * 40 + "inputs" + ")" * 40)
    assert declar.validate(text, Limits(max_expression_depth=100)) == []


def test_parenthesis_bomb_stops_at_a_limit():
    """Parentheses add no depth to the tree, but Python's parser stops at 200 levels: a Problem, not a crash."""
    assert declar.validate(call_spec("(" * 150 + "inputs" + ")" * 150)) == []
    for n in (250, 990):  # 990: just under the length limit
        text = call_spec("(" * n + "inputs" + ")" * n)
        problems = declar.validate(text)
        assert problems and all(p.line >= 1 and p.col >= 1 and p.message for p in problems)


# -- variable elements -----------------------------------------------------------------------------

def test_variable_element_limit_in_shape_expression():
    text = variable_spec("[1000000, 1000000]")
    p = assert_located(declar.validate(text), "bad-shape", text)
    assert "1,000,000,000,000" in p.message and "500,000,000" in p.message
    assert p.path[:4] == ("layers", "T", "variables", "w")
    assert declar.validate(text, Limits(max_variable_elements=10**12)) == []


def test_variable_element_limit_from_param_defaults():
    text = (HEAD + "layers:\n  T:\n    extends: Layer\n    params:\n      n: {type: integer, default: 100000}\n"
            "    variables:\n      w: {shape: \"[n, n, n]\"}\n    call: inputs\nmodel:\n  - T: {}\n")
    p = assert_located(declar.validate(text), "bad-shape", text)
    assert "1,000,000,000,000,000" in p.message


def test_variable_element_limit_in_literal_shape():
    text = (HEAD + "layers:\n  T:\n    extends: Layer\n    variables:\n      w: {shape: [1000000, 1000000]}\n"
            "    call: inputs\nmodel:\n  - T: {}\n")
    p = assert_located(declar.validate(text), "bad-shape", text)
    assert "1,000,000,000,000" in p.message
    assert declar.validate(text, Limits(max_variable_elements=10**12)) == []


def test_input_element_limit():
    text = "declar: 1\nname: m\ninputs:\n  x: {shape: [100000, 100000]}\nmodel:\n  - Dense: {units: 1}\n"
    problems = declar.validate(text)
    assert problems, "an input of 10**10 elements per sample is over Limits.max_variable_elements"
    assert any("10,000,000,000" in p.message for p in problems)
    assert declar.validate(text, Limits(max_variable_elements=10**10)) == []


# -- power bits ------------------------------------------------------------------------------------

def test_power_limit():
    text = variable_spec("[2 ** 100000]")
    start = time.monotonic()
    p = assert_located(declar.validate(text), "bad-shape", text)
    assert time.monotonic() - start < 60  # sanity only: the guard trips before computing
    assert "bits" in p.message and "4,096" in p.message


def test_power_limit_can_be_raised():
    text = variable_spec("[2 ** 5000 // 2 ** 4990]")  # 2**5000 has 5,001 bits: over 4,096
    p = assert_located(declar.validate(text), "bad-shape", text)
    assert "bits" in p.message
    assert declar.validate(text, Limits(max_power_bits=20_000)) == []


def test_power_tower_is_refused():
    text = variable_spec("[10 ** 10 ** 10 ** 10]")
    assert_located(declar.validate(text), "bad-shape", text)


def test_raised_power_limit_then_element_limit():
    text = variable_spec("[2 ** 100000]")
    problems = declar.validate(text, Limits(max_power_bits=300_000))
    p = assert_located(problems, "bad-shape", text)
    assert "elements" in p.message


def test_product_of_big_constants():
    text = variable_spec("[" + " * ".join(["(2 ** 2000)"] * 8) + "]")
    p = assert_located(declar.validate(text), "bad-shape", text)
    assert "elements" in p.message or "bits" in p.message


# -- variables whose size depends on the input: refused at build, before any allocation -------------

@pytest.fixture(scope="module")
def keras_ready():
    import keras

    from declar._keras_hook import register
    register()
    declar.build(variable_spec("[input_shape[-1], 2]"))  # warm up the backend before measuring memory
    return keras


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def test_huge_input_dependent_variable_is_refused_at_build(keras_ready):
    text = variable_spec("[input_shape[-1] * 1000000, 1000000]")  # 4 * 10**12 float32 = 16 TB
    assert declar.validate(text) == []  # the shape depends on input_shape: only build can compute it
    before = peak_rss_bytes()
    with pytest.raises(declar.BuildError) as caught:
        declar.build(text)
    grown = peak_rss_bytes() - before
    message = str(caught.value)
    assert "variable 'w'" in message and "layer 't' (T)" in message
    assert "4,000,000,000,000" in message
    p = caught.value.problems[0]
    assert p.line >= 1 and p.col >= 1
    assert grown < 200 * 2**20, f"peak RSS grew by {grown / 2**20:.0f} MB"


def test_declar_layer_refuses_huge_variable_before_allocating(keras_ready):
    from declar.keras.layer import DeclarLayer

    types = {"Big": {"extends": "Layer", "variables": {"kernel": {"shape": "[input_shape[-1] * 1000000, 1000000]",
                                                                  "initializer": "zeros"}},
                     "call": "inputs"}}
    layer = DeclarLayer(types=types, layer_type="Big", name="big_one")
    before = peak_rss_bytes()
    with pytest.raises(ValueError, match=r"big_one.*kernel.*3,000,000,000,000 elements"):
        layer(np.ones((1, 3), "float32"))
    assert not layer._declared
    assert peak_rss_bytes() - before < 200 * 2**20


def test_build_honours_the_callers_variable_limit(keras_ready):
    text = variable_spec("[input_shape[-1] * 1000, 1000]")  # 4,000,000 elements: under the default
    assert declar.validate(text) == []
    with pytest.raises(declar.BuildError, match="4,000,000 elements"):
        declar.build(text, limits=Limits(max_variable_elements=1_000))


def test_limits_are_per_call_not_global():
    text = sequential(3)
    assert declar.validate(text, Limits(max_layers=2))
    assert declar.validate(text) == []
    assert Path(declar.__file__).is_file()
