"""Round trips through .keras archives, each load in a fresh process (batched: one process saves
every archive, one loads them all), for every spec under specs/ and the resume specs, on every
installed Keras backend (the `roundtrip` fixture in conftest.py is parametrized by backend)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLE_SPECS, RESUME_SPECS, TF_ONLY_SPECS

LOST_STATE = ("Skipping variable loading", "cannot be built automatically", "was not called as part of model loading")

def _record(out: Path, name: str, side: str) -> dict:
    return json.loads((out / f"{name}.{side}.json").read_text())


ALL_NAMES = [p.stem for p in EXAMPLE_SPECS] + [p.stem for p in RESUME_SPECS]


@pytest.fixture(autouse=True)
def _tensorflow_only_specs(request):
    """Specs of text or lookup tables run on TensorFlow only: skipped on the other backends."""
    params = request.node.callspec.params if hasattr(request.node, "callspec") else {}
    if params.get("roundtrip", "tensorflow") != "tensorflow" and params.get("name") in TF_ONLY_SPECS:
        pytest.skip("text and lookup tables run on TensorFlow only (see conftest.TF_ONLY_MARKERS)")


@pytest.mark.parametrize("name", ALL_NAMES)
def test_predictions_are_bit_identical_after_load(roundtrip, name):
    before = np.load(roundtrip / f"{name}.pred.npz")
    after = np.load(roundtrip / f"{name}.pred_loaded.npz")
    assert before.files == after.files
    for key in before.files:
        assert np.array_equal(before[key], after[key]), key


@pytest.mark.parametrize("name", ALL_NAMES)
def test_weights_are_identical_after_load(roundtrip, name):
    saved, loaded = _record(roundtrip, name, "save"), _record(roundtrip, name, "load")
    assert saved["weights"] == loaded["weights"]  # names, shapes, dtypes in order
    a, b = np.load(roundtrip / f"{name}.weights.npz"), np.load(roundtrip / f"{name}.weights_loaded.npz")
    assert a.files == b.files
    for key in a.files:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("name", ALL_NAMES)
def test_load_prints_no_lost_state_warning(roundtrip, name):
    warnings = _record(roundtrip, name, "load")["warnings"]
    assert not [w for w in warnings if any(marker in w for marker in LOST_STATE)]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_load_save_load_gives_same_config_and_weights(roundtrip, name):
    loaded = _record(roundtrip, name, "load")
    assert loaded["config_equal"] and loaded["weights_equal_again"]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_compile_settings_and_evaluate_are_restored(roundtrip, name):
    saved, loaded = _record(roundtrip, name, "save"), _record(roundtrip, name, "load")
    assert saved["facts"].get("optimizer") == loaded["facts"].get("optimizer")
    assert saved["facts"].get("loss") == loaded["facts"].get("loss")
    assert saved["facts"].get("metrics") == loaded["facts"].get("metrics")
    assert saved["facts"].get("compile_config") == loaded["facts"].get("compile_config")  # with every argument
    assert saved["evaluate"] == loaded["evaluate"]


@pytest.mark.parametrize("name", [p.stem for p in RESUME_SPECS])
def test_training_resumes_bit_identically_after_fresh_process_load(roundtrip, name):
    uninterrupted = np.load(roundtrip / f"{name}.resumed.npz")
    resumed = np.load(roundtrip / f"{name}.resumed_loaded.npz")
    assert uninterrupted.files == resumed.files
    assert any(k.startswith("o") for k in uninterrupted.files)  # optimizer state is compared too
    for key in uninterrupted.files:
        assert np.array_equal(uninterrupted[key], resumed[key]), key
    assert _record(roundtrip, name, "save")["iterations"] == _record(roundtrip, name, "load")["iterations"] == 8


class TestKerasGuideAssertions:
    """The guide's own assertions, after the round trip in a fresh process."""

    def test_custom_assets_vocabulary_reads_mary_had_a_little_lamb(self, roundtrip):
        facts = _record(roundtrip, "custom_assets", "load")["facts"]
        assert facts["layer_with_custom_assets"]["assets"]["vocab"] == "Mary had a little lamb."
        # before saving, the transform had not been applied yet (it is a load-time transform)
        saved = _record(roundtrip, "custom_assets", "save")["facts"]
        assert saved["layer_with_custom_assets"]["assets"]["vocab"] == "Mary had a <unk> lamb."

    def test_custom_build_restores_layer_init_and_built(self, roundtrip):
        facts = _record(roundtrip, "custom_build", "load")["facts"]
        assert facts["layer_with_custom_build"]["build_args"] == {"layer_init": "random_normal"}
        assert facts["layer_with_custom_build"]["built"] is True
        assert facts["model_built"] is True

    def test_custom_compile_restores_optimizer_loss_and_metrics(self, roundtrip):
        saved = _record(roundtrip, "custom_compile", "save")["facts"]
        loaded = _record(roundtrip, "custom_compile", "load")["facts"]
        assert loaded["optimizer"]["name"] == "sgd"
        assert loaded["loss"] == ["DeclarLoss", "small_square_sum_loss"]
        evaluated = _record(roundtrip, "custom_compile", "load")["evaluate"]
        assert set(evaluated) == {"loss", "accuracy", "mean_pred"}
        assert evaluated == _record(roundtrip, "custom_compile", "save")["evaluate"]
        assert saved["optimizer"] == loaded["optimizer"]

    def test_text_classifier_vocabulary_asset_is_restored(self, roundtrip):
        facts = _record(roundtrip, "text_classifier", "load")["facts"]
        vocabulary = facts["vocabulary_embedding"]["assets"]["vocabulary"]
        assert vocabulary.splitlines()[:3] == ["<pad>", "<unk>", "mary"]
