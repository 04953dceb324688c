"""Variables updated in call (`updates:` of a custom type): specs/training/moving_mean.yaml, a layer
that keeps a moving mean as BatchNormalization keeps its moving statistics, and counts its steps.

The twin is the same layer written by hand in Keras (add_weight(trainable=False), assign in
call when training); the spec is trained by `declar fit`, and its archive, loaded in a fresh
process, holds the moving mean and the step count the training left.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops
from state_worker import facts, run_jobs
from test_cli import run
from twins import copy_weights

import declar
from declar.errors import LayerBuildError
from declar.keras.layer import DeclarLayer

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "training" / "moving_mean.yaml"


class MovingCenter(keras.layers.Layer):
    """The spec's MovingCenter by hand: centers on the batch mean in training, on the moving mean else."""

    def __init__(self, momentum, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def build(self, input_shape):
        self.moving_mean = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False)
        self.steps = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False)

    def call(self, inputs, training=None):
        batch_mean = ops.mean(inputs, axis=0)
        if training:
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * batch_mean)
            self.steps.assign_add(1)
            return inputs - batch_mean
        return inputs - self.moving_mean


def twin() -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), MovingCenter(0.8, name="center"), keras.layers.Dense(1, name="head")])
    model.compile(optimizer="sgd", loss="mean_squared_error")
    return model


def data(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 3)) + np.array([1.0, 2.0, 3.0])).astype("float32")
    return x, rng.random((n, 1)).astype("float32")


def where(problems) -> list[str]:
    return [p.render().split(": error: ")[0] for p in problems]


HEADER = "declar: 2\nname: m\ninputs:\n  x: {shape: [3]}\nlayers:\n  T:\n    extends: Layer\n    variables:\n" \
         "      count: {shape: [], initializer: zeros, trainable: false}\n      w: {shape: [3], initializer: ones}\n" \
         "      n: {shape: [], dtype: int32, initializer: zeros, trainable: false}\n"
FOOTER = "    call: {let: {h: \"inputs * w\"}, return: h}\nmodel:\n  - T: {}\n"


def updates_spec(lines: str) -> str:
    return HEADER + "    updates:\n" + lines + FOOTER


# -- the model, against its twin ------------------------------------------------------------------


def test_the_spec_trains_as_the_hand_written_layer() -> None:
    """Same parameters; weights copied; after the same fit the same moving mean, steps, weights, outputs."""
    model, hand = declar.build(str(SPEC)), twin()
    assert model.count_params() == hand.count_params() == 3 + 1 + 3 + 1
    copy_weights(model, hand)
    x, y = data()
    for m in (model, hand):
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    ours, theirs = model.get_layer("center"), hand.get_layer("center")
    assert int(ours._declared["steps"].numpy()) == int(theirs.steps.numpy()) == 6  # 2 epochs of 3 batches
    np.testing.assert_allclose(ours._declared["moving_mean"].numpy(), theirs.moving_mean.numpy(), atol=1e-6)
    assert np.all(ours._declared["moving_mean"].numpy() > 0.5)  # it moved towards the data's mean
    for a, b in zip(model.weights, hand.weights, strict=True):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), hand.predict(x, verbose=0), atol=1e-6)


def test_training_only_updates_wait_for_training_and_others_run_in_every_call() -> None:
    spec = updates_spec("      count: {assign_add: \"1.0\"}\n      n: {assign_add: \"1\", training_only: true}\n")
    model = declar.build(spec, compile=False)
    layer = model.get_layer("t")
    x = np.ones((2, 3), "float32")
    model.predict(x, verbose=0)
    model(x)
    assert float(layer._declared["count"].numpy()) == 2.0  # predict and a direct call
    assert int(layer._declared["n"].numpy()) == 0
    model(x, training=True)
    assert int(layer._declared["n"].numpy()) == 1


def test_an_update_reads_the_call_scope_and_its_result() -> None:
    spec = updates_spec("      count: {assign: \"sum(outputs) + sum(h) * 0\"}\n")
    model = declar.build(spec, compile=False)
    model(np.full((2, 3), 2.0, "float32"))
    assert float(model.get_layer("t")._declared["count"].numpy()) == 12.0  # 2 * 3 values of 2 * w (w = 1)


def test_a_value_with_another_shape_is_refused_at_build_in_one_line() -> None:
    spec = updates_spec("      count: {assign: \"inputs\"}\n")
    with pytest.raises(declar.BuildError) as err:
        declar.build(spec, compile=False)
    message = str(err.value)
    assert "update of 'count': the value has shape (None, 3), the variable (); reduce it" in message
    assert "Traceback" not in message and message.count("\n") == 0


def test_a_fraction_is_refused_for_an_integer_variable_at_build() -> None:
    spec = updates_spec("      n: {assign: \"mean(inputs)\"}\n")
    with pytest.raises(declar.BuildError, match="a float32 value does not fit the variable's dtype int32"):
        declar.build(spec, compile=False)


# -- validation (no keras import; exact places) ---------------------------------------------------


@pytest.mark.parametrize(("lines", "place", "message"), [
    ("      cnt: {assign_add: \"1.0\"}\n", "<string>:13:7", "update of unknown variable 'cnt'"),
    ("      w: {assign: \"w * 2\"}\n", "<string>:13:7", "variable 'w' is trainable: only a non-trainable variable"),
    ("      count: {assign: \"1.0\", assign_add: \"1.0\"}\n", "<string>:13:14",
     "an update needs exactly one of assign, assign_add, assign_sub, got assign, assign_add"),
    ("      count: {training_only: true}\n", "<string>:13:14", "an update needs exactly one of"),
    ("      count: {assign_add: \"1.0 + cout\"}\n", "<string>:13:34", "unknown name 'cout'"),
    ("      count: {assign_add: \"random_normal([])\"}\n", "<string>:13:28", "unknown function 'random_normal'"),
    ("      n: {assign_add: \"0.5\"}\n", "<string>:13:24",
     "the update's value 0.5 does not fit the variable's dtype int32"),
])
def test_update_mistakes_are_located(lines: str, place: str, message: str) -> None:
    problems = declar.validate(updates_spec(lines))
    assert where(problems) == [place]
    assert message in problems[0].message
    assert problems[0].hint


def test_an_unknown_update_form_is_refused_by_the_schema() -> None:
    problems = declar.validate(updates_spec("      count: {scatter_update: \"1.0\"}\n"))
    assert where(problems) == ["<string>:13:15"]
    assert "scatter_update" in problems[0].message


def test_hints_name_the_fix() -> None:
    unknown, trainable = (declar.validate(updates_spec(s))[0] for s in ("      cnt: {assign_add: \"1.0\"}\n",
                                                                         "      w: {assign: \"w\"}\n"))
    assert unknown.hint == "did you mean 'count'?"
    assert "trainable: false" in trainable.hint


def test_an_archive_config_updating_a_trainable_variable_is_refused() -> None:
    """A DeclarLayer config comes from an archive: it is validated again, as a spec is."""
    types = {"T": {"extends": "Layer", "variables": {"w": {"shape": [3]}}, "updates": {"w": {"assign": "w * 0"}},
                   "call": "inputs"}}
    with pytest.raises(declar.SpecError, match="variable 'w' is trainable"):
        DeclarLayer.from_config({"name": "t", "types": types, "layer_type": "T"})
    types["T"]["updates"] = {"w": {"eval": "w"}}
    with pytest.raises(declar.SpecError, match="eval"):
        DeclarLayer.from_config({"name": "t", "types": types, "layer_type": "T"})


def test_the_layer_itself_refuses_an_update_it_was_not_checked_for() -> None:
    """The second lock, where a definition reaches the layer without validation."""
    types = {"T": {"extends": "Layer", "variables": {"w": {"shape": [3]}}, "updates": {"w": {"assign": "w * 0"}},
                   "call": "inputs"}}
    with pytest.raises(LayerBuildError, match="only a declared non-trainable variable can be updated"):
        DeclarLayer(types=types, layer_type="T")


# -- saved and restored ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_state_left_by_declar_fit_survives_a_fresh_process(tmp_path: Path) -> None:
    x, y = data()
    train, out = tmp_path / "train.npz", tmp_path / "mm.keras"
    np.savez(train, x=x, head=y)  # the output is named after the last layer
    result = run("fit", str(SPEC), "--data", str(train), "--out", str(out), "--epochs", "3", "--batch-size", "4")
    assert result.exit_code == 0, result.output
    probe = tmp_path / "probe.npz"
    np.savez(probe, x=x, y=y)
    fresh = run_jobs([{"name": "mm", "archive": str(out), "data": str(probe), "layers": ["center"]}],
                     str(tmp_path))["mm"]
    assert str(fresh["warnings"][0]) == ""
    assert int(fresh["var:center:steps"]) == 9  # 3 epochs of 3 batches
    assert int(fresh["trained:center:steps"]) == 10  # one more step after the load counts on from 9
    moving_mean = fresh["var:center:moving_mean"]
    assert np.all(moving_mean > 1.0)  # 1 - 0.8 ** 9 of the way to the data's mean, about 1.5, 2.5, 3.5
    here = facts(keras.models.load_model(str(out)), x, y, ["center"])
    for key in ("pred", "var:center:moving_mean", "var:center:steps", "eval:loss", "train_on_batch",
                "trained:center:moving_mean"):
        np.testing.assert_array_equal(fresh[key], here[key])
    # Inference centers on the saved moving mean: the head applied to x - moving_mean, by hand.
    loaded = keras.models.load_model(str(out))
    kernel, bias = (ops.convert_to_numpy(w) for w in loaded.get_layer("head").weights)
    np.testing.assert_allclose(fresh["pred"], (x - moving_mean) @ kernel + bias, atol=1e-6)
