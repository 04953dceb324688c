"""Blocks survive save and load in a fresh process (design sections 4 and 5).

One process per backend builds and saves every block spec (tests/roundtrip_worker.py), another
loads them with `import declar` alone and safe_mode on: predictions bit-identical, weights identical
with the same path names, no warnings. A third process takes the decoder out of the loaded
autoencoder, with `declar.load` and with `keras.models.load_model`: a keras.Model callable on a
latent tensor, equal to the decoder of the model before saving (tests/blocks_worker.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import declar
from tests.conftest import BACKENDS, ROOT, run_worker

SPECS = sorted((ROOT / "tests" / "specs" / "blocks").glob("*.yaml"))
NESTED_WORKER = Path(__file__).resolve().parent / "blocks_worker.py"


@pytest.fixture(scope="module", params=BACKENDS)
def archives(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"blocks_{request.param}")
    jobs = out / "jobs.json"
    jobs.write_text(json.dumps([{"name": p.stem, "spec": str(p)} for p in SPECS]))
    run_worker("save", jobs, out, request.param)
    run_worker("load", jobs, out, request.param)
    return out, request.param


@pytest.mark.parametrize("name", [p.stem for p in SPECS])
def test_predictions_and_weights_are_identical_after_a_fresh_load(archives, name):
    out, _ = archives
    saved, loaded = (json.loads((out / f"{name}.{side}.json").read_text()) for side in ("save", "load"))
    assert loaded["warnings"] == []
    assert loaded["weights"] == saved["weights"]  # same paths (encoder/block_2/...), shapes and dtypes
    assert any("/" in path.split("/", 1)[1] for path, _, _ in saved["weights"]), "weights inside nested models"
    for side in ("pred", "weights"):
        before, after = np.load(out / f"{name}.{side}.npz"), np.load(out / f"{name}.{side}_loaded.npz")
        assert sorted(before.files) == sorted(after.files)
        for key in before.files:
            np.testing.assert_array_equal(before[key], after[key])
    assert loaded["config_equal"] and loaded["weights_equal_again"]
    assert loaded["evaluate"] == pytest.approx(saved["evaluate"])


def decoder_twin() -> keras.Model:
    """The autoencoder's decoder written by hand in Keras."""
    latent = keras.Input((16,))
    grid = keras.layers.Reshape((14, 14, 8))(keras.layers.Dense(14 * 14 * 8, activation="relu")(latent))
    return keras.Model(latent, keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same",
                                                           activation="sigmoid")(grid))


def test_the_loaded_autoencoders_decoder_is_a_model_of_its_own(archives):
    out, backend = archives
    archive = out / "autoencoder.keras"
    twin = decoder_twin()
    for target, source in zip(twin.weights, declar.load(archive, compile=False).get_layer("decoder").weights,
                              strict=True):
        target.assign(source)
    latent = np.random.default_rng(5).normal(size=(3, 16)).astype("float32")
    np.save(out / "latent.npy", latent)
    jobs = out / "nested_jobs.json"
    jobs.write_text(json.dumps([{"name": "autoencoder", "archive": str(archive), "layer": "decoder",
                                 "input": str(out / "latent.npy")}]))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    proc = subprocess.run([sys.executable, str(NESTED_WORKER), str(jobs), str(out)], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "nested.json").read_text())
    expected = keras.ops.convert_to_numpy(twin(latent))
    for how in ("declar", "keras"):
        assert record[f"autoencoder.{how}"]["model_type"] == "DeclarModel"
        assert record[f"autoencoder.{how}"]["is_model"]
        assert record[f"autoencoder.{how}"]["weights"] == ["decoder/expand/kernel", "decoder/expand/bias",
                                                           "decoder/deconv/kernel", "decoder/deconv/bias"]
        np.testing.assert_allclose(np.load(out / f"autoencoder.{how}.npy"), expected, atol=1e-6)

