"""Text classification from text files (keras.io "Text classification from scratch", toy size):
the example spec against a hand-written Keras twin, trained by `declar fit` from a directory of
text, and "an adapted TextVectorization model saves and reloads with its vocabulary" in a fresh
process; a vocabulary given as a file next to the spec, and its located refusals."""

from __future__ import annotations

import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from adapt_helpers import TRAINING_SPECS, cli, fresh_load, write_reviews

import declar
from declar import Limits

TEXT_SPEC = TRAINING_SPECS / "text_classification.yaml"
SEED = 1337
PROBES = np.array([["A great film, loved it."], ["Boring and dull acting."], ["The story was superb."]])


def text_twin(reviews) -> keras.Model:
    """The example as keras.io writes it: the vectorize layer adapted on the texts, then the model."""
    vectorize = keras.layers.TextVectorization(max_tokens=200, output_mode="int", output_sequence_length=20)
    texts = keras.utils.text_dataset_from_directory(reviews, batch_size=32, seed=SEED, verbose=False)
    vectorize.adapt(texts.map(lambda x, y: x))
    text_input = keras.Input(shape=(1,), dtype="string")
    x = vectorize(text_input)
    x = keras.layers.Embedding(200, 16)(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Conv1D(16, 3, padding="valid", activation="relu", strides=1)(x)
    x = keras.layers.Conv1D(16, 3, padding="valid", activation="relu", strides=1)(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    predictions = keras.layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return keras.Model(text_input, predictions)


VOCAB_SPEC = """\
declar: 2
name: vocab_file
inputs:
  text: {shape: [1], dtype: string}
  code: {shape: [1], dtype: int64}
model:
  nodes:
    ids: {TextVectorization: {vocabulary: {file: words.txt}, output_sequence_length: 6}, inputs: text}
    codes: {IntegerLookup: {vocabulary: {file: codes.txt}}, inputs: code}
    both: {Concatenate: {}, inputs: [ids, codes]}
  outputs: both
"""
WORDS = ["great", "film", "dull", "story"]
CODES = [7, 3, 11]


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """Every archive of this module, made once and loaded in one fresh process."""
    d = tmp_path_factory.mktemp("text")
    write_reviews(d / "reviews")
    made = {"adapt": cli("adapt", TEXT_SPEC, d / "reviews", "-o", d / "adapted.keras"),
            "fit": cli("fit", TEXT_SPEC, "--data", d / "reviews", "--out", d / "trained.keras")}
    (d / "vocab").mkdir()
    (d / "vocab" / "spec.yaml").write_text(VOCAB_SPEC)
    (d / "vocab" / "words.txt").write_text("\n".join(WORDS) + "\n")
    (d / "vocab" / "codes.txt").write_text("\n".join(map(str, CODES)) + "\n")
    vocab_model = declar.build(d / "vocab" / "spec.yaml")
    declar.save(vocab_model, d / "vocab.keras")
    shutil.rmtree(d / "vocab")  # the archive holds the vocabularies: the files are not needed to load
    for result in made.values():
        assert result.exit_code == 0, result.output
    vocab_inputs = [np.array([["great story"], ["no film here"]]), np.array([[3], [5]], "int64")]
    here = {name: declar.load(d / f"{name}.keras") for name in ("adapted", "trained")}
    predictions = {name: model.predict(tf.constant(PROBES), verbose=0) for name, model in here.items()}
    predictions["vocab"] = vocab_model.predict([tf.constant(vocab_inputs[0]), vocab_inputs[1]], verbose=0)
    fresh = fresh_load(d, {"adapted": (d / "adapted.keras", [PROBES]), "trained": (d / "trained.keras", [PROBES]),
                           "vocab": (d / "vocab.keras", vocab_inputs)})
    return {"dir": d, "made": made, "here": here, "predictions": predictions, "fresh": fresh,
            "vocab_model": vocab_model}


def test_the_text_example_vectorizes_like_its_keras_twin(archives):
    d = archives["dir"]
    model, twin = archives["here"]["adapted"], text_twin(d / "reviews")
    assert archives["made"]["adapt"].output.splitlines() == [
        f"adapted vectorize (TextVectorization): vocabulary of {twin.layers[1].vocabulary_size()} tokens, from 48 "
        "examples", f"wrote {d / 'adapted.keras'}"]
    assert model.get_layer("vectorize").get_vocabulary() == twin.layers[1].get_vocabulary()
    assert {"great", "boring", "film"} <= set(twin.layers[1].get_vocabulary())
    assert model.count_params() == twin.count_params()
    for ours, theirs in zip(model.layers, twin.layers, strict=True):
        assert type(ours) is type(theirs)
        theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(model.predict(tf.constant(PROBES), verbose=0),
                               twin.predict(tf.constant(PROBES), verbose=0), atol=1e-6)


def test_declar_fit_adapts_and_trains_the_text_example_from_a_directory_of_text(archives):
    trained, adapted = archives["here"]["trained"], archives["here"]["adapted"]
    assert f"wrote {archives['dir'] / 'trained.keras'}" in archives["made"]["fit"].output
    assert trained.get_layer("vectorize").get_vocabulary() == adapted.get_layer("vectorize").get_vocabulary()
    changed = [not np.array_equal(a, b) for a, b in zip(trained.get_weights(), adapted.get_weights(), strict=True)]
    assert any(changed)  # trained: the weights moved from the seed's


@pytest.mark.parametrize("name", ["adapted", "trained"])
def test_an_adapted_text_vectorization_model_saves_and_reloads_with_its_vocabulary(archives, name):
    fresh = archives["fresh"][name]
    assert fresh["warnings"] == []
    assert fresh["state"]["vectorize"]["vocabulary"] == [
        str(t) for t in archives["here"][name].get_layer("vectorize").get_vocabulary()]
    assert np.array_equal(fresh["prediction"], archives["predictions"][name])


def test_a_vocabulary_file_next_to_the_spec_is_used_and_kept_in_the_archive(archives):
    model = archives["vocab_model"]
    twin_text = keras.layers.TextVectorization(vocabulary=WORDS, output_sequence_length=6)
    twin_codes = keras.layers.IntegerLookup(vocabulary=CODES)
    assert model.get_layer("ids").get_vocabulary() == twin_text.get_vocabulary()
    assert model.get_layer("codes").get_vocabulary() == twin_codes.get_vocabulary()
    expected = np.concatenate([twin_text(tf.constant([["great story"], ["no film here"]])),
                               twin_codes(np.array([[3], [5]]))], axis=-1)
    np.testing.assert_array_equal(archives["predictions"]["vocab"], expected)
    fresh = archives["fresh"]["vocab"]  # loaded with the files deleted: from the archive's assets
    assert fresh["warnings"] == []
    assert fresh["state"]["ids"]["vocabulary"] == twin_text.get_vocabulary()
    assert fresh["state"]["codes"]["vocabulary"] == [str(t) for t in twin_codes.get_vocabulary()]
    assert np.array_equal(fresh["prediction"], archives["predictions"]["vocab"])


# -- a vocabulary file's refusals, located at its value -------------------------------------------

def lookup_spec(value: str, layer: str = "StringLookup", dtype: str = "string") -> str:
    return (f"declar: 2\nname: m\ninputs:\n  x: {{shape: [1], dtype: {dtype}}}\nmodel:\n"
            f"  - {layer}: {{vocabulary: {value}}}\n")


def problems_of(tmp_path, text: str, limits: Limits = Limits()) -> list[str]:
    (tmp_path / "spec.yaml").write_text(text)
    return [p.render() for p in declar.validate(tmp_path / "spec.yaml", limits=limits)]


def at(tmp_path, text: str, needle: str) -> str:
    """``spec.yaml:LINE:COL`` of ``needle`` in the spec's text."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return f"{tmp_path / 'spec.yaml'}:{number}:{line.index(needle) + 1}"
    raise AssertionError(needle)


HINT = " (one token per line, UTF-8, each token once)"


@pytest.mark.parametrize(("content", "layer", "message"), [
    (b"great\nfilm\ngreat\n", "StringLookup", "vocabulary file 'v.txt': line 3: token 'great' repeats line 1"),
    (b"\xff\xfegreat\n", "StringLookup", "vocabulary file 'v.txt' is not UTF-8 text (byte 0)"),
    (b"\n\n", "StringLookup", "vocabulary file 'v.txt' holds no tokens"),
    (b"3\nseven\n", "IntegerLookup", "vocabulary file 'v.txt': line 2: 'seven' is not an integer (an IntegerLookup's "
                                     "vocabulary holds integers)"),
])
def test_an_unreadable_vocabulary_file_is_refused_at_its_value(tmp_path, content, layer, message):
    (tmp_path / "v.txt").write_bytes(content)
    text = lookup_spec("{file: v.txt}", layer, "int64" if layer == "IntegerLookup" else "string")
    assert problems_of(tmp_path, text) == [f"{at(tmp_path, text, 'v.txt')}: error: {message}{HINT}"]


def test_a_vocabulary_over_the_token_limit_is_refused_at_validate(tmp_path):
    (tmp_path / "v.txt").write_text("a\nb\nc\n")
    text = lookup_spec("{file: v.txt}")
    assert problems_of(tmp_path, text, Limits(max_vocabulary_tokens=2)) == [
        f"{at(tmp_path, text, 'v.txt')}: error: vocabulary file 'v.txt' holds 3 tokens, over "
        f"Limits.max_vocabulary_tokens = 2; raise it if this is intended{HINT}"]


def test_a_vocabulary_file_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "v.txt")
    text = lookup_spec("{file: v.txt}")
    assert problems_of(tmp_path, text) == [f"{at(tmp_path, text, 'v.txt')}: error: asset file 'v.txt' is not a "
                                           "regular file"]


def test_a_vocabulary_file_linked_to_etc_passwd_is_refused_not_read(tmp_path):
    os.symlink("/etc/passwd", tmp_path / "v.txt")
    text = lookup_spec("{file: v.txt}")
    assert problems_of(tmp_path, text) == [f"{at(tmp_path, text, 'v.txt')}: error: asset path 'v.txt' resolves "
                                           "outside the spec's directory (symbolic link?)"]


@pytest.mark.parametrize("name", ["/etc/passwd", "../secret.txt"])
def test_a_vocabulary_path_leaving_the_spec_directory_is_refused(tmp_path, name):
    text = lookup_spec(f"{{file: '{name}'}}")
    assert problems_of(tmp_path, text) == [
        f"{at(tmp_path, text, repr(name))}: error: asset path '{name}' leaves the spec's directory (give a path "
        "relative to the spec, without ..)"]


def test_a_missing_vocabulary_file_is_refused_with_where_it_was_looked_for(tmp_path):
    text = lookup_spec("{file: absent.txt}")
    assert problems_of(tmp_path, text) == [f"{at(tmp_path, text, 'absent.txt')}: error: asset file 'absent.txt' does "
                                           f"not exist (looked in {os.path.realpath(tmp_path)})"]


@pytest.mark.parametrize("value", ["{file: v.txt, encoding: latin-1}", "{path: v.txt}", "{file: 3}"])
def test_a_vocabulary_mapping_other_than_file_is_refused(tmp_path, value):
    (tmp_path / "v.txt").write_text("a\n")
    text = lookup_spec(value)
    assert problems_of(tmp_path, text) == [
        f"{at(tmp_path, text, value)}: error: a StringLookup vocabulary given as a mapping names its file: "
        "{file: NAME} (write the tokens as a list, or name a file next to the spec: vocabulary: {file: vocab.txt})"]


def test_a_spec_given_as_text_cannot_name_a_vocabulary_file():
    problems = [p.render() for p in declar.validate(lookup_spec("{file: v.txt}"))]
    assert problems == ["<string>:6:39: error: a spec given as text cannot name asset files (load the spec from its "
                        "file)"]


def test_a_vocabulary_file_of_five_gigabytes_is_refused_before_it_is_read(tmp_path):
    with open(tmp_path / "v.txt", "wb") as f:
        f.truncate(5 * 10**9)  # sparse: no disk used
    text = lookup_spec("{file: v.txt}")
    assert problems_of(tmp_path, text) == [
        f"{at(tmp_path, text, 'v.txt')}: error: asset file 'v.txt' is 5,000,000,000 bytes, over the limit of "
        "256,000,000 (raise Limits.max_asset_bytes if this is intended)"]
