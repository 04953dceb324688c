"""Adapted preprocessing (issue 15, item 4): `declar adapt`, adapt inside `declar fit`, the
structured-data example (keras.io "Structured data classification from scratch") against a Keras
twin, state given in the spec, Discretization's boundaries in the archive, limits and hostile state.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from adapt_helpers import TRAINING_SPECS, cli, fresh_load, heart_arrays, replace_member

import declar
from declar import Limits
from declar.adapt import adapt_model, adapt_spec
from declar.archive import ArchiveError
from declar.errors import BuildError, DataError
from declar.keras.adapted_state import STATE_FILE
from declar.training_data import FitData

STRUCTURED = TRAINING_SPECS / "structured_data.yaml"
NUMERIC = ("age", "thalach", "oldpeak")


def structured_twin(arrays: dict[str, np.ndarray]) -> keras.Model:
    """The example's model as keras.io writes it: each preprocessing layer adapted on its column
    before the graph is built."""
    inputs = {name: keras.Input(shape=(1,), name=name) for name in NUMERIC}
    inputs["cp"] = keras.Input(shape=(1,), name="cp", dtype="int64")
    encoded = []
    for name in NUMERIC:
        norm = keras.layers.Normalization(name=f"{name}_norm")
        norm.adapt(arrays[name])
        encoded.append(norm(inputs[name]))
    lookup = keras.layers.IntegerLookup(output_mode="one_hot", max_tokens=8, pad_to_max_tokens=True, name="cp_lookup")
    lookup.adapt(arrays["cp"])
    encoded.append(lookup(inputs["cp"]))
    x = keras.layers.Concatenate(name="all_features")(encoded)
    x = keras.layers.Dense(32, activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="target")(x)
    return keras.Model([inputs[n] for n in (*NUMERIC, "cp")], output)


def columns(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [arrays[n] for n in (*NUMERIC, "cp")]


@pytest.fixture(scope="module")
def heart(tmp_path_factory):
    d = tmp_path_factory.mktemp("heart")
    arrays = heart_arrays()
    np.savez(d / "heart.npz", **arrays)
    return d, arrays


def test_declar_adapt_on_the_structured_example_matches_its_keras_twin(heart):
    d, arrays = heart
    result = cli("adapt", STRUCTURED, d / "heart.npz", "-o", d / "adapted.keras")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "adapted age_norm (Normalization): mean and variance of 1 feature, from 64 examples",
        "adapted thalach_norm (Normalization): mean and variance of 1 feature, from 64 examples",
        "adapted oldpeak_norm (Normalization): mean and variance of 1 feature, from 64 examples",
        "adapted cp_lookup (IntegerLookup): vocabulary of 5 tokens, from 64 examples",
        f"wrote {d / 'adapted.keras'}"]
    model, twin = declar.load(d / "adapted.keras"), structured_twin(arrays)
    for name in NUMERIC:
        ours, theirs = model.get_layer(f"{name}_norm"), twin.get_layer(f"{name}_norm")
        np.testing.assert_array_equal(np.asarray(ours.mean), np.asarray(theirs.mean))
        np.testing.assert_array_equal(np.asarray(ours.variance), np.asarray(theirs.variance))
        np.testing.assert_allclose(np.asarray(ours.mean).ravel(), [arrays[name].mean()], rtol=1e-5)
    assert model.get_layer("cp_lookup").get_vocabulary() == twin.get_layer("cp_lookup").get_vocabulary()
    assert sorted(model.get_layer("cp_lookup").get_vocabulary()[1:]) == [0, 1, 2, 3]
    assert model.count_params() == twin.count_params()
    for name in ("hidden", "target"):
        twin.get_layer(name).set_weights(model.get_layer(name).get_weights())
    np.testing.assert_allclose(model.predict(columns(arrays), verbose=0), twin.predict(columns(arrays), verbose=0),
                               atol=1e-6)


def test_declar_fit_from_the_spec_adapts_before_training_and_not_when_resuming(heart, tmp_path):
    d, arrays = heart
    result = cli("fit", STRUCTURED, "--data", d / "heart.npz", "--out", tmp_path / "trained.keras", "--epochs", "2")
    assert result.exit_code == 0, result.output
    trained = declar.load(tmp_path / "trained.keras")
    twin = structured_twin(arrays)
    np.testing.assert_array_equal(np.asarray(trained.get_layer("age_norm").mean),
                                  np.asarray(twin.get_layer("age_norm").mean))
    # Resuming the archive on other data trains on, with the state adapted when it was made.
    other = {k: v * 3 + 7 if k in NUMERIC else v for k, v in arrays.items()}
    np.savez(tmp_path / "other.npz", **other)
    again = cli("fit", tmp_path / "trained.keras", "--data", tmp_path / "other.npz", "--out", tmp_path / "more.keras")
    assert again.exit_code == 0, again.output
    np.testing.assert_array_equal(np.asarray(declar.load(tmp_path / "more.keras").get_layer("age_norm").mean),
                                  np.asarray(twin.get_layer("age_norm").mean))


def test_a_layer_after_others_adapts_on_what_they_make_of_the_data(tmp_path):
    """Graph order: the Normalization sees the Dense's outputs, the Discretization the normalized ones."""
    spec = ("declar: 2\nname: chain\nseed: 3\ninputs:\n  x: {shape: [3]}\nmodel:\n  - Dense: {units: 2, name: proj}\n"
            "  - Normalization: {name: norm}\n  - Discretization: {num_bins: 4, name: bins}\n")
    x = np.random.default_rng(1).normal(size=(50, 3)).astype("float32")
    model = declar.build(spec)
    report = adapt_model(model, FitData(x))
    assert report.lines() == ["norm (Normalization): mean and variance of 2 features, from 50 examples",
                              "bins (Discretization): 3 bin boundaries, from 50 examples"]
    projected = model.get_layer("proj")(x)
    np.testing.assert_allclose(np.asarray(model.get_layer("norm").mean).ravel(), np.mean(projected, axis=0),
                               rtol=1e-5, atol=1e-6)
    twin = keras.layers.Discretization(num_bins=4)
    twin.adapt(model.get_layer("norm")(projected))
    assert model.get_layer("bins").bin_boundaries == twin.bin_boundaries


def test_adapted_archives_load_in_a_fresh_process_with_their_state(heart, tmp_path):
    """The structured example adapted by `declar adapt`, and a Discretization after a Normalization,
    loaded with `import declar` alone, safe_mode on: no warning, the same state, the same predictions."""
    d, arrays = heart
    structured = tmp_path / "structured.keras"
    assert cli("adapt", STRUCTURED, d / "heart.npz", "-o", structured).exit_code == 0
    spec = ("declar: 2\nname: binned\nseed: 3\ninputs:\n  x: {shape: [3]}\nmodel:\n  - Normalization: {name: norm}\n"
            "  - Discretization: {num_bins: 4, name: bins}\n  - Dense: {units: 1}\n")
    (tmp_path / "binned.yaml").write_text(spec)
    x = np.random.default_rng(2).normal(size=(40, 3)).astype("float32")
    np.savez(tmp_path / "x.npz", x=x, dense=np.zeros((40, 1), "float32"))
    assert cli("adapt", tmp_path / "binned.yaml", tmp_path / "x.npz", "-o", tmp_path / "binned.keras").exit_code == 0
    model, heart_model = declar.load(tmp_path / "binned.keras"), declar.load(structured)
    fresh = fresh_load(tmp_path, {"binned": (tmp_path / "binned.keras", [x[:7]]),
                                  "structured": (structured, columns(arrays))})
    loaded = fresh["binned"]
    assert loaded["warnings"] == []
    assert loaded["state"]["bins"]["bin_boundaries"] == model.get_layer("bins").bin_boundaries
    assert loaded["state"]["norm"]["mean"] == np.asarray(model.get_layer("norm").mean).tolist()
    assert np.array_equal(loaded["prediction"], model.predict(x[:7], verbose=0))
    loaded = fresh["structured"]
    assert loaded["warnings"] == []
    for name in NUMERIC:
        layer = heart_model.get_layer(f"{name}_norm")
        assert loaded["state"][f"{name}_norm"] == {"mean": np.asarray(layer.mean).tolist(),
                                                   "variance": np.asarray(layer.variance).tolist()}
    assert loaded["state"]["cp_lookup"]["vocabulary"] == [str(t) for t in heart_model.get_layer("cp_lookup")
                                                          .get_vocabulary()]
    assert np.array_equal(loaded["prediction"], heart_model.predict(columns(arrays), verbose=0))


def test_a_preprocessing_layer_inside_a_block_is_refused_at_its_node(tmp_path):
    text = ("declar: 2\nname: m\ninputs:\n  x: {shape: [2]}\nblocks:\n  Scaled:\n    nodes:\n"
            "      norm: {Normalization: {}, inputs: inputs}\n    outputs: norm\n"
            "model:\n  nodes:\n    scaled: {Scaled: {}, inputs: x}\n  outputs: scaled\n")
    (tmp_path / "spec.yaml").write_text(text)
    with pytest.raises(BuildError) as err:
        adapt_spec(tmp_path / "spec.yaml", FitData(np.ones((3, 2), "float32")), tmp_path / "out.keras")
    assert err.value.problems[0].render() == (
        f"{tmp_path / 'spec.yaml'}:8:13: error: layer 'norm' (Normalization) cannot be adapted: it is inside block "
        "'Scaled' (adapt reaches the model's own layers: move it into the model's graph, or give its state)")
    with pytest.raises(DataError, match="layer 'norm' \\(Normalization\\) cannot be adapted: it is inside block"):
        adapt_model(declar.build(tmp_path / "spec.yaml"), FitData(np.ones((3, 2), "float32")))


def test_normalization_mean_and_variance_given_in_the_spec_are_used_and_not_adapted(tmp_path):
    text = ("declar: 2\nname: given\ninputs:\n  x: {shape: [2]}\nmodel:\n"
            "  - Normalization: {mean: [1.0, -2.0], variance: [4.0, 0.25]}\n")
    (tmp_path / "spec.yaml").write_text(text)
    x = np.array([[3.0, -1.0], [1.0, -2.5]], "float32")
    twin = keras.layers.Normalization(mean=[1.0, -2.0], variance=[4.0, 0.25])
    np.testing.assert_allclose(declar.build(tmp_path / "spec.yaml").predict(x, verbose=0), twin(x), atol=1e-6)
    with pytest.raises(BuildError) as err:
        adapt_spec(tmp_path / "spec.yaml", FitData(x), tmp_path / "out.keras")
    assert err.value.problems[0].render() == (
        f"{tmp_path / 'spec.yaml'}:6:21: error: nothing to adapt: every preprocessing layer has the state the spec "
        "gives (remove the argument to adapt the layer on data)")
    assert not (tmp_path / "out.keras").exists()


def test_adapt_on_a_spec_with_nothing_to_adapt_is_refused_at_the_model_key(tmp_path):
    (tmp_path / "spec.yaml").write_text("declar: 2\nname: m\ninputs:\n  x: {shape: [2]}\nmodel:\n"
                                        "  - Dense: {units: 1}\n")
    result = cli("adapt", tmp_path / "spec.yaml", tmp_path / "absent.npz", "-o", tmp_path / "out.keras")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"{tmp_path / 'spec.yaml'}:5:1: error: nothing to adapt: the model has no Normalization, TextVectorization, "
        "StringLookup, IntegerLookup or Discretization layer (declar fit and declar save build it as it is)")


def test_an_adapted_lookup_whose_output_width_is_its_vocabulary_needs_a_fixed_width(tmp_path):
    (tmp_path / "spec.yaml").write_text("declar: 2\nname: m\ninputs:\n  x: {shape: [1], dtype: string}\nmodel:\n"
                                        "  - StringLookup: {output_mode: one_hot}\n")
    assert [p.render() for p in declar.validate(tmp_path / "spec.yaml")] == [
        f"{tmp_path / 'spec.yaml'}:6:33: error: a StringLookup adapted on data with output_mode 'one_hot' needs "
        "max_tokens and pad_to_max_tokens: true: its output is as wide as the vocabulary, which is learned after "
        "the model's graph is built (add max_tokens: N and pad_to_max_tokens: true, or give the vocabulary)"]


def test_saving_a_lookup_layer_that_was_never_adapted_is_refused(tmp_path):
    spec = "declar: 2\nname: m\ninputs:\n  x: {shape: [1], dtype: string}\nmodel:\n  - StringLookup: {}\n"
    with pytest.raises(ArchiveError, match="layer 'string_lookup' has no vocabulary, and Keras cannot load"):
        declar.save(spec, tmp_path / "m.keras")
    assert list(tmp_path.iterdir()) == []


def test_more_examples_than_the_row_limit_are_refused_not_cut(heart, tmp_path):
    d, _ = heart
    result = cli("--limit", "max_adapt_rows=10", "adapt", STRUCTURED, d / "heart.npz", "-o", tmp_path / "o.keras")
    assert result.exit_code == 1
    assert "the data has 64 examples, over Limits.max_adapt_rows = 10; adapt on a sample" in result.output
    assert not (tmp_path / "o.keras").exists()


def test_a_vocabulary_of_every_distinct_word_is_refused_over_the_token_limit():
    spec = "declar: 2\nname: m\ninputs:\n  x: {shape: [], dtype: string}\nmodel:\n  - TextVectorization: {}\n"
    words = np.array([f"w{i} v{i}" for i in range(20)], dtype=object)
    with pytest.raises(DataError, match=r"adapted a vocabulary of 42 tokens, over Limits.max_vocabulary_tokens = "
                                        r"10; give it max_tokens"):
        adapt_model(declar.build(spec), FitData(words), Limits(max_vocabulary_tokens=10))


def test_data_that_a_layer_cannot_adapt_on_is_a_data_error_naming_the_layer():
    spec = "declar: 2\nname: m\ninputs:\n  x: {shape: [3]}\nmodel:\n  - Normalization: {name: norm}\n"
    with pytest.raises(DataError, match=r"layer 'norm' \(Normalization\) cannot adapt on the data: "):
        adapt_model(declar.build(spec), FitData(np.array([["a", "b", "c"]] * 4)))


# -- hostile archives: the Discretization state asset ----------------------------------------------

@pytest.fixture(scope="module")
def binned_archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("binned")
    spec = ("declar: 2\nname: binned\ninputs:\n  x: {shape: [2]}\nmodel:\n"
            "  - Discretization: {num_bins: 3, name: bins}\n  - Dense: {units: 1, name: dense}\n")
    model = declar.build(spec)
    adapt_model(model, FitData(np.arange(20, dtype="float32").reshape(10, 2)))
    declar.save(model, d / "binned.keras")
    return d / "binned.keras"


@pytest.mark.parametrize(("state", "message"), [
    (b'{"dense": [1.0, 2.0]}', "adapted_state.json names 'dense', which is no Discretization layer of the model"),
    (b'{"bins": [3.0, 1.0]}', "adapted_state.json: the boundaries of 'bins' must increase"),
    (b'{"bins": [1.0, NaN]}', "adapted_state.json: the boundaries of 'bins' must be a list of finite numbers"),
    (b'{"bins": "import os"}', "adapted_state.json: the boundaries of 'bins' must be a list of finite numbers"),
    (b"[[[[" * 50_000, "adapted_state.json is not valid JSON"),
])
def test_a_forged_discretization_state_is_refused_at_load(binned_archive, tmp_path, state, message):
    forged = replace_member(binned_archive, f"assets/{STATE_FILE}", state, tmp_path / "forged.keras")
    with pytest.raises(ArchiveError, match="cannot load") as err:
        declar.load(forged)
    assert message in str(err.value)
    with pytest.raises(ValueError, match=message.split(" names ")[0]):
        keras.models.load_model(forged, safe_mode=True)


def test_a_discretization_state_over_the_json_limit_is_refused_before_it_is_parsed(binned_archive, tmp_path):
    big = json.dumps({"bins": list(range(1, 5000))}).encode()
    forged = replace_member(binned_archive, f"assets/{STATE_FILE}", big, tmp_path / "big.keras")
    with pytest.raises(ArchiveError, match="max_json_asset_bytes"):
        declar.load(forged, limits=Limits(max_json_asset_bytes=1000))


def test_an_endless_dataset_is_refused_at_the_row_limit_not_read_forever():
    spec = "declar: 2\nname: m\ninputs:\n  x: {shape: [2]}\nmodel:\n  - Normalization: {}\n"
    endless = tf.data.Dataset.from_tensors((np.ones((4, 2), "float32"), np.zeros((4, 1), "float32"))).repeat()
    with pytest.raises(DataError, match=r"the data has more than 100 examples, over Limits.max_adapt_rows"):
        adapt_model(declar.build(spec), FitData(endless, None, batched=True), Limits(max_adapt_rows=100))
