"""Functions real models need: extract_patches (vision transformers), segment_sum / segment_max
(graph networks), arange, take_along_axis, top_k, pad, tril, eye and the rest of the additions.

Each is used by a model built by hand in Keras the way the public example writes it, or computed
against numpy; each that can allocate has its size guard, at validate (constant sizes, located at
the size argument) and at build (the real static shapes).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers, ops
from keras_io_layers import PatchEncoder, Patches
from twins import assert_same_model

import declar
from declar.errors import BuildError
from declar.expr.evaluate import to_closure
from declar.expr.ops import OPS
from declar.expr.parse import Context, check
from declar.keras.ops import keras_functions

ROOT = Path(__file__).resolve().parent.parent
VIT = ROOT / "specs" / "keras_io" / "vit_patches.yaml"


# -- keras.io "Image classification with Vision Transformer" -----------------------------------


def _embedding_first(model: keras.Model) -> list:
    """The position embedding, then the other weights in order (the spec declares it before its base)."""
    weights = list(model.weights)
    return [w for w in weights if "embedding" in w.path] + [w for w in weights if "embedding" not in w.path]


def test_vit_patches_and_patch_encoder_are_the_keras_io_layers() -> None:
    twin = keras.Sequential([keras.Input((32, 32, 3)), Patches(8), PatchEncoder(16, 24),
                             layers.LayerNormalization(epsilon=1e-6), layers.GlobalAveragePooling1D(),
                             layers.Dense(10, activation="softmax")])
    model = assert_same_model(VIT, twin, order=_embedding_first)
    assert model.count_params() == 16 * 24 + 192 * 24 + 24 + 2 * 24 + 24 * 10 + 10


def test_extract_patches_resolves_under_keras_ops_image() -> None:
    assert OPS["extract_patches"].keras_path == "ops.image.extract_patches"
    assert keras_functions()["extract_patches"] is keras.ops.image.extract_patches


# -- segment_sum / segment_max: a graph readout ------------------------------------------------

READOUT = """declar: 2
name: readout
seed: 7
inputs:
  atoms: {shape: [5]}
  graph: {shape: [], dtype: int32}
layers:
  SegmentReadout:
    description: Sum and maximum of the atoms' features of each graph (a molecule's readout).
    extends: Layer
    params:
      num_graphs: {type: integer}
    call:
      let:
        features: inputs[0]
        ids: inputs[1]
      return: >-
        concatenate([segment_sum(features, ids, num_segments=num_graphs),
                     segment_max(features, ids, num_segments=num_graphs)], axis=-1)
model:
  nodes:
    projected: {Dense: {units: 8, activation: relu}, inputs: atoms}
    readout: {SegmentReadout: {num_graphs: 3}, inputs: [projected, graph]}
    score: {Dense: {units: 1}, inputs: readout}
  outputs: score
"""


class SegmentReadout(layers.Layer):
    def __init__(self, num_graphs):
        super().__init__()
        self.num_graphs = num_graphs

    def call(self, inputs):
        features, ids = inputs
        return ops.concatenate([ops.segment_sum(features, ids, num_segments=self.num_graphs),
                                ops.segment_max(features, ids, num_segments=self.num_graphs)], axis=-1)


def test_a_segment_readout_is_the_same_as_written_by_hand(tmp_path: Path) -> None:
    spec = tmp_path / "readout.yaml"
    spec.write_text(READOUT)
    atoms, graph = keras.Input((5,)), keras.Input((), dtype="int32")
    projected = layers.Dense(8, activation="relu")(atoms)
    twin = keras.Model([atoms, graph], layers.Dense(1)(SegmentReadout(3)([projected, graph])))
    x = [np.random.default_rng(0).random((7, 5)).astype("float32"), np.array([0, 0, 1, 1, 1, 2, 2], "int32")]
    model = assert_same_model(spec, twin, inputs=x)
    assert tuple(model(x).shape) == (3, 1)  # one row per graph


def test_segment_functions_need_num_segments() -> None:
    text = READOUT.replace(", num_segments=num_graphs", "", 1)
    problems = declar.validate(text)
    assert [f"{p.line}:{p.col}" for p in problems] == ["18:22"]
    assert problems[0].message == "segment_sum() needs num_segments here"
    assert "largest id in the data" in problems[0].hint


# -- the other additions, against numpy ---------------------------------------------------------

X = np.random.default_rng(3).random((2, 5)).astype("float32")


@pytest.mark.parametrize(("text", "expected"), [
    ("take_along_axis(x, argsort(x, axis=-1), axis=-1)", np.sort(X, axis=-1)),
    ("sort(x, axis=0)", np.sort(X, axis=0)),
    ("top_k(x, 2)[0]", -np.sort(-X, axis=-1)[:, :2]),
    ("top_k(x, 2)[1]", np.argsort(-X, axis=-1)[:, :2]),
    ("tril(ones([3, 4]))", np.tril(np.ones((3, 4)))),
    ("triu(x, k=1)", np.triu(X, k=1)),
    ("eye(3, 4, k=1)", np.eye(3, 4, k=1)),
    ("zeros([2, 3]) + 1", np.ones((2, 3))),
    ("pad(x, [[0, 0], [1, 2]])", np.pad(X, [[0, 0], [1, 2]])),
    ("arange(2, 9, 3)", np.arange(2, 9, 3)),
    ("arange(4)", np.arange(4)),
    ("flip(x, axis=1)", np.flip(X, axis=1)),
    ("roll(x, 2, axis=1)", np.roll(X, 2, axis=1)),
    ("cumprod(x, axis=1)", np.cumprod(X, axis=1)),
    ("logsumexp(x, axis=1)", np.log(np.exp(X).sum(axis=1))),
    ("take(x, [4, 0], axis=1)", X[:, [4, 0]]),
])
def test_new_function_computes_what_numpy_does(text: str, expected: np.ndarray) -> None:
    checked = check(text, Context(names={"x"}))
    assert checked.problems == ()
    got = to_closure(checked.tree, keras_functions())({"x": X})
    np.testing.assert_allclose(ops.convert_to_numpy(got), expected, rtol=1e-6, atol=1e-6)


# -- size guards ---------------------------------------------------------------------------------


def _call_spec(call: str, shape: str = "[4]") -> str:
    return (f"declar: 2\nname: m\ninputs:\n  x: {{shape: {shape}}}\nlayers:\n  T:\n    extends: Layer\n"
            f"    call: \"{call}\"\nmodel:\n  - T: {{}}\n")


@pytest.mark.parametrize(("call", "col", "what"), [
    ("inputs + arange(0, 10**12)[0]", 31, "arange() would make 1,000,000,000,000"),
    ("inputs + zeros([10**6, 10**6])[0, :4]", 27, "zeros() would make 1,000,000,000,000"),
    ("inputs + eye(10**5)[0, :4]", 25, "eye() would make 10,000,000,000"),
    ("inputs + pad(inputs, [[0, 0], [10**5, 10**5], [10**5, 10**5]])[0, 0]", 33, "pad() would make"),
    ("extract_patches(inputs, size=10**5)", 41, "extract_patches() would make 10,000,000,000"),
    ("segment_sum(inputs, inputs, num_segments=10**12)", 53, "segment_sum() would make 1,000,000,000,000"),
])
def test_a_constant_size_is_refused_at_validate_at_its_argument(call: str, col: int, what: str) -> None:
    problems = declar.validate(_call_spec(call))
    assert [(p.line, p.col) for p in problems] == [(8, col)], [p.render() for p in problems]
    assert what in problems[0].message and "elements per example" in problems[0].message


def test_overlapping_patches_of_a_real_image_are_refused_at_build() -> None:
    """Only the build knows the image size: 161 x 161 positions of 96 x 96 x 3 values each."""
    text = _call_spec("extract_patches(inputs, size=96, strides=1)", shape="[256, 256, 3]")
    assert declar.validate(text) == []
    with pytest.raises(BuildError, match="extract_patches\\(\\) would make 716,663,808 elements per example"):
        declar.build(text, compile=False)
    assert 161 * 161 * 96 * 96 * 3 == 716_663_808
