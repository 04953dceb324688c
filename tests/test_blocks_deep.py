"""Deep blocks (design section 9): a block repeated 1,000 times and blocks nested to the depth limit
build, save and load without RecursionError, and the layer limit counts the layers inside blocks
and repeats, so it cannot be escaped through `repeat` (refused at validate, located at `repeat`).
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import pytest

import declar
from declar import Limits

HEAD = "declar: 2\nname: deep\ninputs:\n  x: {shape: [4]}\n"


def tiny_block(name: str = "Tiny", layers: int = 1) -> str:
    nodes = "".join(f"      d{i}: {{Dense: {{units: 4}}, inputs: {'inputs' if i == 0 else f'd{i - 1}'}}}\n"
                    for i in range(layers))
    return f"  {name}:\n    nodes:\n{nodes}    outputs: d{layers - 1}\n"


def nested_blocks(depth: int, repeat: int = 1) -> str:
    """B1 uses B2 ... uses B<depth>, which holds one Dense; each use repeated ``repeat`` times."""
    text = "blocks:\n"
    for i in range(1, depth):
        text += (f"  B{i}:\n    nodes:\n      n: {{B{i + 1}: {{}}, inputs: inputs"
                 + (f", repeat: {repeat}" if repeat > 1 else "") + "}\n    outputs: n\n")
    return text + f"  B{depth}:\n    nodes:\n      n: {{Dense: {{units: 2}}, inputs: inputs}}\n    outputs: n\n"


def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> str:
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text(text)
    return "spec.yaml"


def test_a_block_repeated_a_thousand_times_builds_and_runs():
    spec = HEAD + "blocks:\n" + tiny_block() + "model:\n  nodes:\n    stack: {Tiny: {}, inputs: x, repeat: 1000}\n" \
        "  outputs: stack\n"
    model = declar.build(spec, compile=False)
    stack = model.get_layer("stack")
    assert len(stack.layers) == 1001 and len(model.weights) == 2000
    assert model.weights[-2].path == "stack/block_1000/d0/kernel"
    x = np.random.default_rng(0).random((2, 4)).astype("float32")
    expected = x
    for block in stack.layers[1:]:  # the chain, one copy after the other, each with its own weights
        dense = block.get_layer("d0")
        expected = expected @ keras.ops.convert_to_numpy(dense.kernel) + keras.ops.convert_to_numpy(dense.bias)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)


def test_blocks_nested_to_the_depth_limit_build_save_and_load(tmp_path):
    depth = Limits().max_extends_depth
    spec = HEAD + nested_blocks(depth) + "model:\n  nodes:\n    top: {B1: {}, inputs: x}\n  outputs: top\n"
    model = declar.build(spec, compile=False)
    assert model.weights[0].path == "top/" + "n/" * (depth - 1) + "n/kernel"
    declar.save(model, tmp_path / "nested.keras")
    loaded = keras.models.load_model(tmp_path / "nested.keras")
    x = np.ones((2, 4), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_repeat_cannot_escape_the_layer_limit(tmp_path, monkeypatch):
    spec = HEAD + "blocks:\n" + tiny_block(layers=10) + \
        "model:\n  nodes:\n    stack: {Tiny: {}, inputs: x, repeat: 1000}\n  outputs: stack\n"
    path = write(tmp_path, monkeypatch, spec)
    assert [p.render() for p in declar.validate(path)] == [
        "spec.yaml:21:42: error: node 'stack' takes the model over the limit of 10,000 layers (blocks and repeats "
        "expanded, 11,001 or more) (repeat less, or raise Limits.max_layers)"]
    assert declar.validate(path, limits=Limits(max_layers=11_001)) == []


def test_a_sequential_repeat_is_counted_too(tmp_path, monkeypatch):
    path = write(tmp_path, monkeypatch, HEAD + "model:\n  - Dense: {units: 4}\n    repeat: 10000\n")
    assert [p.render() for p in declar.validate(path)] == [
        "spec.yaml:7:13: error: node 'dense' takes the model over the limit of 10,000 layers (blocks and repeats "
        "expanded, 10,001 or more) (repeat less, or raise Limits.max_layers)"]


def test_repeats_multiplied_through_nesting_are_refused_quickly(tmp_path, monkeypatch):
    # 10 ** 30 layers if built: counted once per block, and the count stops at the limit
    spec = HEAD + nested_blocks(31, repeat=10) + "model:\n  nodes:\n    top: {B1: {}, inputs: x}\n  outputs: top\n"
    path = write(tmp_path, monkeypatch, spec)
    start = time.perf_counter()
    found = [p.render() for p in declar.validate(path)]
    assert time.perf_counter() - start < 5
    assert len(found) == 1 and found[0].startswith("spec.yaml:") and \
        "node 'top' takes the model over the limit of 10,000 layers" in found[0]
    line = spec.splitlines().index("    top: {B1: {}, inputs: x}") + 1
    assert found[0].startswith(f"spec.yaml:{line}:5: error:")


def test_a_chain_of_two_thousand_blocks_is_refused_without_recursion(tmp_path, monkeypatch):
    spec = HEAD + nested_blocks(2000) + "model:\n  nodes:\n    top: {B1: {}, inputs: x}\n  outputs: top\n"
    found = [p.render() for p in declar.validate(write(tmp_path, monkeypatch, spec))]
    assert found[0].startswith("spec.yaml:") and "nests blocks" in found[0]
    assert all("over the limit of 32" in p for p in found)
