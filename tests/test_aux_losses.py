"""Auxiliary losses (`losses:` of a custom type or a block), `training` in expressions, and the
`random_bernoulli` draw.

A loss is added with Keras's add_loss during the call, weighted, reported by fit as a metric of
its name (``kl_loss``, ``val_kl_loss``), and rebuilt from the spec when an archive loads. The
twins add the same loss by hand with add_loss.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers, ops
from keras_io_layers import Sampling

import declar
from declar.errors import LayerBuildError
from declar.keras.aux_losses import AuxiliaryLoss
from declar.keras.ops import draw_seed

ROOT = Path(__file__).resolve().parent.parent
KL = "-0.5 * mean(sum(1 + z_log_var - square(z_mean) - exp(z_log_var), axis=1))"

# A VAE's latent head: the Sampling layer of keras.io's VAE, with its KL term as a loss of the type.
SAMPLING = f"""declar: 2
name: latent
seed: 5
inputs:
  x: {{shape: [4]}}
layers:
  Sampling:
    extends: Layer
    call:
      let:
        z_mean: inputs[0]
        z_log_var: inputs[1]
        epsilon: random_normal(shape=(shape(z_mean)[0], shape(z_mean)[1]))
      return: z_mean + exp(0.5 * z_log_var) * epsilon
    losses:
      kl_loss: {{value: "{KL}", weight: 0.5}}
model:
  nodes:
    z_mean: {{Dense: {{units: 2}}, inputs: x}}
    z_log_var: {{Dense: {{units: 2}}, inputs: x}}
    z: {{Sampling: {{}}, inputs: [z_mean, z_log_var]}}
  outputs: z
compile:
  optimizer: adam
  loss: mse
"""


class SamplingWithKL(Sampling):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
        self.add_loss(0.5 * kl)
        return super().call(inputs)


def sampling_twin() -> keras.Model:
    x = keras.Input((4,))
    z_mean, z_log_var = layers.Dense(2)(x), layers.Dense(2)(x)
    model = keras.Model(x, SamplingWithKL(draw_seed(5, "z"))([z_mean, z_log_var]))
    model.compile(optimizer="adam", loss="mse")
    return model


def batch(n: int = 8, width: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, width)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")


def where(problems) -> list[str]:
    return [p.render().split(": error: ")[0] for p in problems]


def copied(model: keras.Model, twin: keras.Model) -> keras.Model:
    for a, b in zip(model.weights, twin.weights, strict=True):
        b.assign(ops.convert_to_numpy(a))
    return twin


# -- a custom type's loss ---------------------------------------------------------------------


def test_a_types_loss_is_the_twins_add_loss_on_one_batch() -> None:
    x, y = batch()
    model = declar.build(SAMPLING)
    twin = copied(model, sampling_twin())
    assert model.count_params() == twin.count_params() == 20
    ours = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    theirs = twin.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], atol=1e-6)
    z_mean, z_log_var = (ops.convert_to_numpy(layer(x)) for layer in twin.layers[1:3])
    kl = -0.5 * np.mean(np.sum(1 + z_log_var - z_mean ** 2 - np.exp(z_log_var), axis=1))
    np.testing.assert_allclose(ours["kl_loss"], 0.5 * kl, rtol=1e-5)  # the weighted value, as added
    # one training step: the same loss, the same weights after it
    np.testing.assert_allclose(model.train_on_batch(x, y, return_dict=True)["loss"], twin.train_on_batch(x, y),
                               atol=1e-6)
    for a, b in zip(model.weights, twin.weights, strict=True):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), atol=1e-6)


def test_fit_reports_each_loss_by_name_with_validation_too(tmp_path: Path) -> None:
    x, y = batch(16)
    data = tmp_path / "d.npz"
    np.savez(data, x=x, z=y)
    history = declar.fit(SAMPLING, data, tmp_path / "m.keras", epochs=2, batch_size=4, validation_split=0.25,
                         verbose=0)
    assert set(history.history) == {"loss", "kl_loss", "val_loss", "val_kl_loss"}
    assert all(0 < v < loss for v, loss in zip(history.history["kl_loss"], history.history["loss"], strict=True))
    loaded = declar.load(tmp_path / "m.keras")  # the loss is rebuilt from the spec
    assert set(loaded.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "kl_loss"}


PENALTY = """declar: 2
name: m
seed: 1
inputs:
  x: {shape: [3]}
layers:
  Penalized:
    extends: Dense
    losses:
      activity: {value: "mean(square(outputs))", weight: 0.25}
      live: "sum(outputs) * 0.0 + 1.0 if training else 0.0 * sum(outputs)"
model:
  - Penalized: {units: 2, name: a}
  - Penalized: {units: 2, name: b}
compile:
  optimizer: sgd
  loss: mse
"""


def test_losses_of_the_same_name_are_summed_and_weighted_and_training_is_readable() -> None:
    x, y = batch(6, 3)
    model = declar.build(PENALTY)
    a = ops.convert_to_numpy(model.get_layer("a")(x))
    b = ops.convert_to_numpy(model.get_layer("b")(a))
    result = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["activity"], 0.25 * (np.mean(a ** 2) + np.mean(b ** 2)), rtol=1e-5)
    assert result["live"] == 0.0  # evaluate: training is false
    np.testing.assert_allclose(result["loss"], np.mean((b - y) ** 2) + result["activity"], rtol=1e-5)
    trained = model.fit(x, y, batch_size=6, epochs=1, verbose=0).history
    assert trained["live"] == [2.0]  # one per layer in training


def test_a_loss_that_is_not_a_scalar_is_refused_at_build_in_one_line() -> None:
    spec = PENALTY.replace('"mean(square(outputs))"', '"square(outputs)"')
    with pytest.raises(declar.BuildError) as err:
        declar.build(spec)
    message = str(err.value)
    assert "loss 'activity' must be a scalar, its value has shape (None, 2); reduce it" in message
    assert "\n" not in message


# -- a block's loss -------------------------------------------------------------------------------

BLOCK = """declar: 2
name: m
seed: 1
inputs:
  x: {shape: [3]}
blocks:
  Head:
    params:
      scale: {type: number, default: 0.01}
    nodes:
      hidden: {Dense: {units: 4, activation: relu}, inputs: inputs}
      out: {Dense: {units: 2}, inputs: hidden}
    losses:
      l1: {value: "scale * sum(abs(hidden))", weight: 2.0}
    outputs: out
model:
  nodes:
    head: {Head: {scale: 0.5}, inputs: x}
  outputs: head
compile:
  optimizer: sgd
  loss: mse
"""


class L1(layers.Layer):
    """The twin's way to add a loss over an inner tensor of a functional model."""

    def call(self, inputs):
        self.add_loss(2.0 * 0.5 * ops.sum(ops.abs(inputs)))
        return inputs


def test_a_blocks_loss_reads_its_nodes_and_parameters_as_the_twin_adds_it() -> None:
    x, y = batch(6, 3)
    model = declar.build(BLOCK)
    inputs = keras.Input((3,))
    hidden = L1()(layers.Dense(4, activation="relu")(inputs))
    twin = keras.Model(inputs, layers.Dense(2)(hidden))
    twin.compile(optimizer="sgd", loss="mse")
    copied(model, twin)
    ours = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    assert set(ours) == {"loss", "l1"}
    np.testing.assert_allclose(ours["loss"], twin.evaluate(x, y, batch_size=6, verbose=0), atol=1e-6)
    np.testing.assert_allclose(model.train_on_batch(x, y, return_dict=True)["loss"], twin.train_on_batch(x, y),
                               atol=1e-6)
    assert model.get_layer("head").get_layer("head_losses").get_config()["params"] == {"scale": 0.5}


def test_the_loss_layer_of_a_config_is_checked_again() -> None:
    """A block's loss layer from a config (a user's get_config, an archive) runs no unchecked text."""
    config = {"name": "h", "losses": [{"name": "x", "value": "__import__('os').system('true')"}], "names": []}
    with pytest.raises(LayerBuildError, match="loss 'x'"):
        AuxiliaryLoss.from_config(config)
    with pytest.raises(LayerBuildError, match="unknown name 'y'"):
        AuxiliaryLoss.from_config({"name": "h", "losses": [{"name": "x", "value": "sum(y)"}], "names": ["h"]})
    with pytest.raises(LayerBuildError, match=r"not \{name, value, weight\}"):
        AuxiliaryLoss.from_config({"name": "h", "losses": [{"name": "x", "value": "sum(h)", "weight": "1"}],
                                   "names": ["h"]})
    with pytest.raises(LayerBuildError, match=r"unknown keys \['asset_root'\]"):
        AuxiliaryLoss.from_config({"name": "h", "losses": [], "names": [], "asset_root": "/"})


# -- validation (no keras import; exact places) ---------------------------------------------------


@pytest.mark.parametrize(("owner", "old", "new", "place", "message"), [
    ("type", "mean(square(outputs))", "mean(square(output))", "<string>:10:38", "unknown name 'output'"),
    ("type", "mean(square(outputs))", "mean(random_normal([2]))", "<string>:10:31", "unknown function 'random_normal'"),
    ("type", "      activity:", "      loss:", "<string>:10:7", "loss name 'loss' is taken by Keras's own metrics"),
    ("type", "      activity:", "      val_x:", "<string>:10:7", "loss name 'val_x' is taken"),
    ("type", "weight: 0.25", "weight: -1", "<string>:10:58", "loss weight -1 is not a finite number >= 0"),
    ("type", "weight: 0.25", "weight: high", "<string>:10:58", 'weight: expected number, got string "high"'),
    ("type", "weight: 0.25", "wieght: 0.25", "<string>:10:50", "unknown key 'wieght'"),
    ("block", "sum(abs(hidden))", "sum(abs(hiden))", "<string>:14:36", "unknown name 'hiden'"),
    ("block", "scale * sum", "scal * sum", "<string>:14:20", "unknown name 'scal'"),
    ("block", "sum(abs(hidden))", "sum(abs(base(hidden)))", "<string>:14:36", "unknown function 'base'"),
])
def test_loss_mistakes_are_located(owner: str, old: str, new: str, place: str, message: str) -> None:
    problems = declar.validate({"type": PENALTY, "block": BLOCK}[owner].replace(old, new))
    assert where(problems) == [place], [p.render() for p in problems]
    assert message in problems[0].message


def test_a_name_hiding_outputs_is_refused() -> None:
    spec = PENALTY.replace("    losses:", "    params:\n      outputs: {type: integer, default: 1}\n    losses:")
    (problem,) = declar.validate(spec)
    assert problem.render() == ("<string>:10:7: error: 'outputs' names the call's result in the type's losses and "
                                "updates (choose another name)")


def test_hints_name_the_fix() -> None:
    (unknown,) = declar.validate(PENALTY.replace("mean(square(outputs))", "mean(square(output))"))
    assert unknown.hint == "did you mean 'outputs'?"
    (taken,) = declar.validate(PENALTY.replace("      activity:", "      loss:"))
    assert "choose another name" in taken.hint


def test_validate_does_not_import_keras() -> None:
    code = ("import sys, declar; problems = declar.validate(sys.argv[1]); "
            "assert 'keras' not in sys.modules; print(len(problems))")
    out = subprocess.run([sys.executable, "-c", code, PENALTY.replace("outputs))", "output))")], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "1"


# -- training in expressions, random_bernoulli ------------------------------------------------------

DROPOUT = """declar: 2
name: m
seed: {seed}
inputs:
  x: {{shape: [400]}}
layers:
  KeepDrop:
    extends: Layer
    params:
      keep: {{type: number, default: 0.75}}
    call: "inputs * random_bernoulli(shape(inputs), p=keep) / keep if training else inputs"
model:
  - KeepDrop: {{name: drop}}
"""


def test_a_bernoulli_dropout_draws_only_in_training_and_from_the_specs_seed() -> None:
    x = np.ones((5, 400), "float32")
    model = declar.build(DROPOUT.format(seed=3), compile=False)
    assert model.get_layer("drop").seed_generator is not None  # its state is saved with the layer
    np.testing.assert_array_equal(model(x), x)  # inference: the inputs as they are, no draw
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    first = ops.convert_to_numpy(model(x, training=True))
    assert set(np.unique(first).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert 0.2 < float(np.mean(first == 0)) < 0.3  # p = 0.75 kept
    assert not np.array_equal(first, ops.convert_to_numpy(model(x, training=True)))  # the state advanced
    again = declar.build(DROPOUT.format(seed=3), compile=False)
    np.testing.assert_array_equal(ops.convert_to_numpy(again(x, training=True)), first)  # the spec's seed decides
    other = declar.build(DROPOUT.format(seed=4), compile=False)
    assert not np.array_equal(ops.convert_to_numpy(other(x, training=True)), first)


def test_random_bernoulli_is_refused_outside_a_call() -> None:
    spec = PENALTY.replace("mean(square(outputs))", "mean(random_bernoulli([2]))")
    (problem,) = declar.validate(spec)
    assert "unknown function 'random_bernoulli'" in problem.message
    assert "random draws exist only in a custom layer's call" in problem.hint


# -- the JAX backend ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_losses_and_updates_work_on_jax() -> None:
    """JAX's trainer is stateless: the losses come back through its scope and the updates as state."""
    spec = PENALTY.replace("    losses:", "    variables:\n      seen: {shape: [], initializer: zeros, "
                           "trainable: false}\n    updates:\n      seen: {assign_add: \"1.0\", training_only: true}\n"
                           "    losses:")
    code = textwrap.dedent("""
        import sys, numpy as np, declar
        model = declar.build(sys.argv[1])
        x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0).history
        print(sorted(history), history["live"], float(model.get_layer("a")._declared["seen"].numpy()))
    """)
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "['activity', 'live', 'loss'] [2.0, 2.0] 4.0"
