"""keras.io's VAE trained from a spec with its KL term (specs/training/vae_kl.yaml).

The KL divergence is an auxiliary loss of the Encoder block; the reconstruction loss is the
compile loss. The hand-written twin is the example's model with the KL term added by the
Sampling layer's ``add_loss`` (the way Keras 3 adds a loss in a functional model); the figures
are also compared with the example's own train_step formula. The spec is trained by `declar fit`
on the command line, and its archive reloads in a fresh process.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers, ops
from keras_io_layers import Sampling
from state_worker import facts, run_jobs
from test_cli import run
from twins import assert_same_model, copy_weights

import declar
from declar.keras.ops import draw_seed

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "training" / "vae_kl.yaml"
# The spec's Sampling layer `z` draws from its name and the seed of its scope, the block use `encoder`.
SAMPLING_SEED = draw_seed(draw_seed(1337, "encoder"), "z")
PIXELS = 8 * 8
KL_WEIGHT = 1 / PIXELS  # the example sums the cross-entropy over the pixels, Keras's loss averages it


def kl_divergence(z_mean, z_log_var):
    """The example's train_step: kl_loss = mean over the batch of the sum over the latent axes."""
    kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    return ops.mean(ops.sum(kl, axis=1))


class SamplingWithKL(Sampling):
    """The example's Sampling layer, adding the KL term of the example's train_step with add_loss."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        self.add_loss(KL_WEIGHT * kl_divergence(z_mean, z_log_var))
        return super().call(inputs)


def vae_twin(seed: int = SAMPLING_SEED) -> keras.Model:
    """The example's encoder and decoder at 8x8x1, compiled with the reconstruction loss."""
    encoder_inputs = keras.Input(shape=(8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(2, name="z_mean")(x)
    z_log_var = layers.Dense(2, name="z_log_var")(x)
    z = SamplingWithKL(seed)([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = keras.Input(shape=(2,))
    x = layers.Dense(2 * 2 * 8, activation="relu")(latent_inputs)
    x = layers.Reshape((2, 2, 8))(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(4, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")

    digits = keras.Input(shape=(8, 8, 1))
    vae = keras.Model(digits, {"reconstruction": decoder(encoder(digits)[2])})
    vae.compile(optimizer="adam", loss="binary_crossentropy")
    return vae


def digits(n: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 8, 8, 1)).astype("float32")


def test_the_spec_validates_and_is_the_examples_model() -> None:
    assert declar.validate(str(SPEC)) == []
    model = assert_same_model(SPEC, vae_twin())
    assert "encoder_losses" in [layer.name for layer in model.get_layer("encoder").layers]  # the KL term's layer


def test_one_batch_gives_the_twins_total_loss_and_the_examples_figures() -> None:
    """Weights copied, both at their first draw: the same total; the KL metric is the example's KL
    term (weighted), and the total is the example's train_step total over the pixel count."""
    x = digits()
    model, twin = declar.build(str(SPEC)), vae_twin()
    copy_weights(model, twin)
    ours = model.evaluate(x, x, batch_size=len(x), verbose=0, return_dict=True)
    theirs = twin.evaluate(x, x, batch_size=len(x), verbose=0, return_dict=True)
    assert set(ours) == {"loss", "kl_loss"}
    np.testing.assert_allclose(ours["loss"], theirs["loss"], atol=1e-6)

    reference = vae_twin()  # the example's formula, at the same (first) draw
    copy_weights(model, reference)
    reconstruction = reference(x)["reconstruction"]  # first: calling the encoder draws too
    z_mean, z_log_var, _ = reference.get_layer("encoder")(x)
    kl = float(kl_divergence(z_mean, z_log_var))
    reconstruction_loss = float(ops.mean(ops.sum(keras.losses.binary_crossentropy(x, reconstruction), axis=(1, 2))))
    assert kl > 0
    np.testing.assert_allclose(ours["kl_loss"], KL_WEIGHT * kl, rtol=1e-5)
    np.testing.assert_allclose(ours["loss"], (reconstruction_loss + kl) / PIXELS, rtol=1e-5)


def test_the_kl_term_moves_the_gradients() -> None:
    """The same step without the KL term lands elsewhere: the auxiliary loss is trained on."""
    x = digits()
    model, plain = declar.build(str(SPEC)), vae_twin()
    plain.get_layer("encoder").layers[-1].add_loss = lambda loss: None  # the example without its KL term
    copy_weights(model, plain)
    model.train_on_batch(x, x)
    plain.train_on_batch(x, x)
    z_log_var = model.get_layer("encoder").get_layer("z_log_var").kernel
    assert not np.allclose(ops.convert_to_numpy(z_log_var), ops.convert_to_numpy(plain.get_layer("encoder")
                           .get_layer("z_log_var").kernel), atol=1e-7)


@pytest.mark.slow
def test_declar_fit_trains_it_and_the_archive_reloads_in_a_fresh_process(tmp_path: Path) -> None:
    x = digits(32)
    data, out = tmp_path / "digits.npz", tmp_path / "vae.keras"
    np.savez(data, digits=x, reconstruction=x)
    result = run("fit", str(SPEC), "--data", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "8")
    assert result.exit_code == 0, result.output
    assert "kl_loss" in result.output  # reported as its own metric

    probe = tmp_path / "probe.npz"
    np.savez(probe, x=x[:8], y=x[:8])
    fresh = run_jobs([{"name": "vae", "archive": str(out), "data": str(probe)}], str(tmp_path))["vae"]
    here = facts(keras.models.load_model(str(out)), x[:8], x[:8], [])
    assert str(fresh["warnings"][0]) == ""
    # the saved draw state, then the same draws
    np.testing.assert_array_equal(fresh["reconstruction"], here["reconstruction"])
    assert set(k for k in fresh if k.startswith("eval:")) == {"eval:loss", "eval:kl_loss"}
    for key in ("eval:loss", "eval:kl_loss", "train_on_batch"):
        np.testing.assert_array_equal(fresh[key], here[key])
    assert 0 < float(fresh["eval:kl_loss"]) < float(fresh["eval:loss"])
    untrained = declar.build(str(SPEC))
    assert not np.array_equal(np.asarray(untrained.predict(x[:8], verbose=0)["reconstruction"]),
                              np.asarray(keras.models.load_model(str(out)).predict(x[:8], verbose=0)["reconstruction"]))
