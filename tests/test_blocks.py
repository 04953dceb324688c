"""Blocks (design section 4): a `blocks:` section of parameterized sub-graphs, used as nodes and built
as nested Keras models, `repeat: N`, and what validate says about every mistake in them, at its place.

The models are compared with the same models written by hand in Keras (tests/twins.py).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.plot import to_dot
from tests.twins import assert_same_model, example_inputs

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "tests" / "specs" / "blocks"

HEAD = "declar: 2\nname: m\ninputs:\n  x: {shape: [6, 8]}\n"
FF_BLOCK = """blocks:
  FF:
    params:
      dim: {type: integer}
      ff_dim: {type: integer}
      rate: {type: number, default: 0.1}
    nodes:
      up: {Dense: {units: ff_dim * 2, activation: relu}, inputs: inputs}
      down: {Dense: {units: dim}, inputs: up}
      drop: {Dropout: {rate: rate}, inputs: down}
      add: {Add: {}, inputs: [inputs, drop]}
    outputs: add
"""


def problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> list[str]:
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text(text)
    return [p.render() for p in declar.validate("spec.yaml")]


def model_section(nodes: str, outputs: str = "out") -> str:
    return "model:\n  nodes:\n" + nodes + f"  outputs: {outputs}\n"


USE = model_section("    out: {FF: {dim: 8, ff_dim: 4}, inputs: x}\n")


# -- validate ----------------------------------------------------------------------------------


def test_a_block_use_is_valid_and_its_arguments_are_its_params(tmp_path, monkeypatch):
    good = HEAD + FF_BLOCK + model_section("    out: {FF: {dim: 8, ff_dim: 4}, inputs: x}\n")
    assert problems(tmp_path, monkeypatch, good) == []
    bad = HEAD + FF_BLOCK + model_section("    out: {FF: {dim: 8, ff_dimm: 4, rate: fast}, inputs: x}\n")
    assert problems(tmp_path, monkeypatch, bad) == [
        "spec.yaml:19:15: error: block 'FF' needs parameter 'ff_dim' (integer)",
        "spec.yaml:19:24: error: block 'FF' has no parameter 'ff_dimm' (did you mean 'ff_dim'?)",
        "spec.yaml:19:42: error: 'rate' expects number, got str 'fast'"]


def test_parameter_expressions_are_checked_at_the_character(tmp_path, monkeypatch):
    text = (HEAD + FF_BLOCK.replace("units: dim}", "units: \"dim + ff_dimx\"}")
            .replace("ff_dim * 2", "ff_dim * __import__(2)") + USE)
    assert problems(tmp_path, monkeypatch, text) == [
        "spec.yaml:12:36: error: unknown function '__import__' (run `declar ops` for the function table)",
        "spec.yaml:13:36: error: unknown name 'ff_dimx' in parameter expression (did you mean 'ff_dim'?)"]


def test_mistakes_inside_a_block_are_located_inside_it(tmp_path, monkeypatch):
    text = (HEAD + FF_BLOCK.replace("{Dense: {units: dim}", "{Dense: {unitz: dim}")
            .replace("inputs: [inputs, drop]", "inputs: [inputs, dorp]") + USE)
    found = problems(tmp_path, monkeypatch, text)
    assert "spec.yaml:13:22: error: 'Dense' has no argument 'unitz' (did you mean 'units'?)" in found
    assert "spec.yaml:13:21: error: 'Dense' needs argument 'units'" in found
    assert "spec.yaml:15:39: error: 'dorp' is neither an input nor a node (did you mean 'drop'?)" in found


def test_block_names_cycles_and_input_counts(tmp_path, monkeypatch):
    text = HEAD + """blocks:
  Dense:
    nodes: {d: {Dense: {units: 2}, inputs: inputs}}
    outputs: d
  A:
    nodes: {b: {B: {}, inputs: inputs}}
    outputs: b
  B:
    nodes: {a: {A: {}, inputs: inputs}}
    outputs: a
  Two:
    inputs: [left, right]
    nodes: {s: {Add: {}, inputs: [left, right]}}
    outputs: s
""" + model_section("    a: {A: {}, inputs: x}\n    out: {Two: {}, inputs: [x, a, x]}\n")
    assert problems(tmp_path, monkeypatch, text) == [
        "spec.yaml:6:3: error: block 'Dense' has the name of a Keras layer (rename it (e.g. DenseBlock))",
        "spec.yaml:13:17: error: blocks use each other: A -> B -> A (a block cannot contain itself)",
        "spec.yaml:22:28: error: block 'Two' takes 2 inputs (left, right), this node gives 3 (give the block's "
        "inputs in order)"]


def test_nesting_deeper_than_the_limit_is_refused(tmp_path, monkeypatch):
    blocks = "".join(f"  B{i}:\n    nodes: {{n: {{B{i + 1}: {{}}, inputs: inputs}}}}\n    outputs: n\n"
                     for i in range(1, 5))
    blocks += "  B5:\n    nodes: {n: {Dense: {units: 2}, inputs: inputs}}\n    outputs: n\n"
    text = HEAD + "blocks:\n" + blocks + model_section("    out: {B1: {}, inputs: x}\n")
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text(text)
    assert declar.validate("spec.yaml", limits=declar.Limits(max_extends_depth=5)) == []
    found = [p.render() for p in declar.validate("spec.yaml", limits=declar.Limits(max_extends_depth=4))]
    assert found == ["spec.yaml:6:3: error: block 'B1' nests blocks 5 deep, over the limit of 4 (flatten the "
                     "nesting, or raise Limits.max_extends_depth)"]


def test_repeat_mistakes(tmp_path, monkeypatch):
    text = HEAD + FF_BLOCK.replace("      drop:", "      again: {Dense: {units: 8}, inputs: down, repeat: twice}\n"
                                   "      drop:").replace("inputs: [inputs, drop]", "inputs: [again, drop]") + \
        model_section("    a: {Dense: {units: 8}, inputs: x, repeat: n}\n"
                      "    out: {shares: a, inputs: a, repeat: 3}\n")
    found = problems(tmp_path, monkeypatch, text)
    assert found[:1] == ["spec.yaml:14:56: error: repeat 'twice' is not a number (repeat: N with N a whole number "
                         "or an expression over the block's parameters ['dim', 'ff_dim', 'rate'])"]
    assert "spec.yaml:20:47: error: repeat 'n' is not a number (repeat: N with N a whole number)" in found
    assert "spec.yaml:21:33: error: node 'out' cannot repeat: repeat chains a layer with one input and one " \
           "output (remove repeat, or write the copies as nodes)" in found


# -- build -------------------------------------------------------------------------------------


def ff_twin(x: keras.KerasTensor, dim: int, ff_dim: int) -> keras.KerasTensor:
    h = keras.layers.Dense(ff_dim * 2, activation="relu")(x)
    h = keras.layers.Dense(dim)(h)
    h = keras.layers.Dropout(0.1)(h)
    h = keras.layers.Add()([x, h])
    return keras.layers.LayerNormalization(epsilon=1e-6)(h)


def test_a_repeated_block_is_the_hand_written_model():
    x = keras.Input((6, 8))
    h = ff_twin(ff_twin(x, 8, 16), 8, 16)
    twin = keras.Model(x, keras.layers.Dense(3)(h))
    model = assert_same_model(SPECS / "ff_blocks.yaml", twin)
    encoder = model.get_layer("encoder")
    assert isinstance(encoder, keras.Model)
    assert [layer.name for layer in encoder.layers] == ["encoder_input", "block_1", "block_2"]
    assert [w.path for w in model.weights][6:9] == ["encoder/block_2/ffn_1/kernel", "encoder/block_2/ffn_1/bias",
                                                    "encoder/block_2/ffn_2/kernel"]
    xs = example_inputs(model)
    # the sub-model is a model a user calls on its own: the model is that sub-model, then the head
    inner = encoder(xs)
    np.testing.assert_allclose(model.get_layer("head")(inner), model(xs), atol=1e-6)


def test_the_autoencoder_blocks_are_the_hand_written_encoder_and_decoder():
    image = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(image)
    code = keras.layers.Dense(16)(keras.layers.Flatten()(h))
    latent = keras.Input((16,))
    g = keras.layers.Reshape((14, 14, 8))(keras.layers.Dense(14 * 14 * 8, activation="relu")(latent))
    decoder = keras.Model(latent, keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same",
                                                              activation="sigmoid")(g))
    twin = keras.Model(image, decoder(code))
    model = assert_same_model(SPECS / "autoencoder.yaml", twin)
    z = np.random.default_rng(0).normal(size=(2, 16)).astype("float32")
    np.testing.assert_allclose(model.get_layer("decoder")(z), decoder(z), atol=1e-6)


def test_a_shared_block_use_reuses_the_sub_model(tmp_path):
    spec = HEAD.replace("x: {shape: [6, 8]}", "x: {shape: [6, 8]}\n  y: {shape: [6, 8]}") + FF_BLOCK + \
        model_section("    left: {FF: {dim: 8, ff_dim: 4}, inputs: x}\n    right: {shares: left, inputs: y}\n"
                      "    out: {Concatenate: {}, inputs: [left, right]}\n")
    model = declar.build(spec, compile=False)
    block = model.get_layer("left")
    assert [layer.name for layer in model.layers].count("left") == 1 and "right" not in \
        [layer.name for layer in model.layers]
    xs = example_inputs(model)
    np.testing.assert_allclose(model(xs), np.concatenate([block(xs[0]), block(xs[1])], axis=-1), atol=1e-6)


def test_repeat_in_a_sequential_list_and_a_block_in_a_list():
    spec = HEAD + FF_BLOCK + "model:\n  - {Dense: {units: 8}, repeat: 3}\n  - FF: {dim: 8, ff_dim: 2}\n" \
        "  - Dense: {units: 1}\n"
    x = keras.Input((6, 8))
    h = x
    for _ in range(3):
        h = keras.layers.Dense(8)(h)
    d = keras.layers.Dropout(0.1)(keras.layers.Dense(8)(keras.layers.Dense(4, activation="relu")(h)))
    twin = keras.Model(x, keras.layers.Dense(1)(keras.layers.Add()([h, d])))
    model = assert_same_model(spec, twin)
    assert [layer.name for layer in model.layers[1:]] == ["dense", "ff", "dense_1"]
    assert [w.path for w in model.get_layer("dense").weights][::2] == ["dense/block_1/kernel", "dense/block_2/kernel",
                                                                      "dense/block_3/kernel"]
    assert [w.path for w in model.get_layer("ff").weights][::2] == ["ff/up/kernel", "ff/down/kernel"]


def test_parameter_defaults_and_expressions_give_the_layer_arguments():
    spec = HEAD + FF_BLOCK.replace("rate: {type: number, default: 0.1}", "rate: {type: number, default: 0.25}") + \
        model_section("    out: {FF: {dim: 8, ff_dim: 5}, inputs: x}\n")
    block = declar.build(spec, compile=False).get_layer("out")
    assert block.get_layer("up").units == 10 and block.get_layer("down").units == 8
    assert block.get_layer("drop").rate == 0.25


# -- tools -------------------------------------------------------------------------------------


def test_declar_build_shows_block_uses_as_nested_rows():
    result = CliRunner().invoke(app, ["build", str(SPECS / "autoencoder.yaml")])
    assert result.exit_code == 0, result.output
    rows = [line.split()[:2] for line in result.output.splitlines()[2:-1]]
    assert rows == [["encoder", "Encoder"], ["encoder/conv", "Conv2D"], ["encoder/flat", "Flatten"],
                    ["encoder/code", "Dense"], ["decoder", "Decoder"], ["decoder/expand", "Dense"],
                    ["decoder/grid", "Reshape"], ["decoder/deconv", "Conv2DTranspose"]]


def test_declar_diff_reports_a_change_inside_a_block_by_block_and_node():
    old = (SPECS / "autoencoder.yaml").read_text()
    new = old.replace("conv: {Conv2D: {filters: filters, kernel_size: 3,", "conv: {Conv2D: {filters: filters, "
                      "kernel_size: 5,")
    assert new != old
    result = declar.diff(declar.load_spec(old), declar.load_spec(new), build=False)
    assert [item.render() for item in result.blocks] == ["~ Encoder: nodes.conv.Conv2D.kernel_size: 3 -> 5"]
    assert "blocks" in result.render_text()
    repeated = declar.diff(declar.load_spec((SPECS / "ff_blocks.yaml").read_text().replace("repeat: 2", "repeat: 3")),
                           declar.load_spec(SPECS / "ff_blocks.yaml"), build=False)
    assert [item.render() for item in repeated.nodes] == ["~ encoder (FFBlock): repeat: 3 -> 2"]


def test_transfer_carries_the_layers_of_a_block_that_did_not_change():
    old_text = (SPECS / "autoencoder.yaml").read_text()
    new_text = old_text.replace("kernel_size: 3, strides: 2, padding: same, activation: sigmoid",
                                "kernel_size: 5, strides: 2, padding: same, activation: sigmoid")
    old, new = declar.build(old_text, compile=False), declar.build(new_text, compile=False)
    report = declar.transfer_weights(new, old)
    assert report.carried == ["encoder/conv", "encoder/code", "decoder/expand"]
    assert report.mismatched == [("decoder/deconv", "kernel (3, 3, 1, 8) in old, (5, 5, 1, 8) in new")]
    np.testing.assert_array_equal(new.get_layer("decoder").get_layer("expand").kernel,
                                  old.get_layer("decoder").get_layer("expand").kernel)


def test_declar_plot_draws_a_block_use_as_a_cluster_of_its_nodes():
    dot = to_dot(declar.load_spec(SPECS / "autoencoder.yaml").spec)
    assert 'subgraph "cluster_decoder" {\n    label="decoder: block Decoder";' in dot
    # the use's input feeds the block's first node, the block's output the use's own box
    assert '"encoder" -> "decoder/expand";' in dot and '"decoder/deconv" -> "decoder";' in dot
    assert '"image" -> "encoder/conv";' in dot and '"image" -> "encoder";' not in dot


LOOKUP = HEAD.replace("x: {shape: [6, 8]}", "x: {shape: [1], dtype: string}") + """blocks:
  Lookup:
    params:
      vocab: {type: any}
    nodes:
      look: {StringLookup: {vocabulary: vocab}, inputs: inputs}
    outputs: look
  Outer:
    params:
      words: {type: any}
    nodes:
      inner: {Lookup: {vocab: words}, inputs: inputs}
    outputs: inner
"""


def test_the_argument_gate_sees_the_values_of_parameter_expressions(tmp_path, monkeypatch):
    text = LOOKUP + model_section("    out: {Lookup: {vocab: /etc/passwd}, inputs: x}\n")
    assert problems(tmp_path, monkeypatch, text) == [
        "spec.yaml:20:11: error: block 'Lookup', node 'look': 'vocabulary' as a string is a file path, which "
        "declar never reads (give the list itself; StringLookup would open the file)"]
    # one block further in, the value is known only at build: the gate refuses it there, before Keras
    nested = LOOKUP + model_section("    out: {Outer: {words: /etc/passwd}, inputs: x}\n")
    assert problems(tmp_path, monkeypatch, nested) == []
    with pytest.raises(declar.errors.BuildError) as err:
        declar.build(nested, compile=False)
    assert str(err.value).startswith("<string>:10:13: error: 'vocabulary' as a string is a file path")
    ok = declar.build(LOOKUP + model_section("    out: {Outer: {words: [a, b]}, inputs: x}\n"), compile=False)
    assert ok.get_layer("out").get_layer("inner").get_layer("look").get_vocabulary() == ["[UNK]", "a", "b"]


def test_a_list_item_names_one_layer_beside_its_repeat(tmp_path, monkeypatch):
    head = "declar: 2\nname: m\ninputs: {x: {shape: [3]}}\nmodel:\n"
    text = head + "  - {repeat: 3}\n  - {Dense: {units: 2}, Dropout: {rate: 0.1}}\n  - {Dense: {units: 2}, repeat: 2}\n"
    assert problems(tmp_path, monkeypatch, text) == [
        "spec.yaml:5:5: error: a list item names one layer, this one none (each layer is an item of its own "
        "(`- Dense: {units: 8}`), with `repeat: N` beside it to chain N copies)",
        "spec.yaml:6:5: error: a list item names one layer, this one 2 (Dense, Dropout) (each layer is an item of "
        "its own (`- Dense: {units: 8}`), with `repeat: N` beside it to chain N copies)"]
