"""Data sources of `declar fit` (issue 15, item 6): CSV, directories of images and TFRecord, read
through `declar.training_data.open_data`, with real models trained by `declar fit` from each.

The sources are checked against each other where they can be: the same examples as `.npz`, CSV and
TFRecord train the same model to the same weights (no shuffling, the same batches).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from data_writers import image_directory, png_bytes, tfrecord_file
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.training_data import FitData, ReadOptions, open_data

ROOT = Path(__file__).resolve().parent.parent
TABULAR = ROOT / "specs" / "keras_io" / "structured_data.yaml"
IMAGES = ROOT / "specs" / "keras_io" / "image_classification.yaml"
COMPILE_SPEC = ROOT / "specs" / "keras_guide" / "custom_compile.yaml"  # input x: [8], output dense_1: [4]
STRINGS = ROOT / "tests" / "specs" / "csv_string_input.yaml"
runner = CliRunner()


def cli(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def heart_csv(path: Path, rows: int = 96, seed: int = 0) -> Path:
    """A heart-disease-like table: the target follows age and maximum heart rate (learnable), the
    columns in another order than the inputs, and one column the model does not read."""
    rng = np.random.default_rng(seed)
    lines = ["thalach,target,cp,note,sex,age"]
    for _ in range(rows):
        age, thalach = int(rng.integers(30, 78)), int(rng.integers(100, 200))
        target = int((age > 54 and thalach < 150) or age > 70)
        lines.append(f"{thalach},{target},{rng.integers(0, 5)},\"free text, with a comma\",{rng.integers(0, 2)},{age}")
    path.write_text("\n".join(lines) + "\n")
    return path


def loss_of(model: keras.Model, data: FitData) -> float:
    return float(model.evaluate(data.x, data.y, verbose=0, return_dict=True)["loss"])


# -- CSV -----------------------------------------------------------------------------------------------


def test_a_tabular_model_trains_from_a_csv_by_declar_fit(tmp_path):
    data = heart_csv(tmp_path / "heart.csv")
    out = tmp_path / "heart.keras"
    result = cli("fit", str(TABULAR), "--data", str(data), "--out", str(out), "--epochs", "40", "--batch-size", "16")
    assert result.exit_code == 0, result.output
    untrained = declar.build(TABULAR)
    trained = declar.load(out)
    read = open_data(data, trained)
    assert loss_of(trained, read) < 0.8 * loss_of(untrained, read)


def test_the_tabular_example_is_the_keras_io_model(tmp_path):
    """The spec against its Keras twin: parameter counts, and outputs with the weights copied across."""
    model = declar.build(TABULAR)
    age, sex = keras.Input((1,), name="age"), keras.Input((1,), name="sex", dtype="int64")
    cp, thalach = keras.Input((1,), name="cp", dtype="int64"), keras.Input((1,), name="thalach")
    features = keras.layers.Concatenate()([
        keras.layers.Normalization(mean=54.4, variance=81.0)(age),
        keras.layers.Normalization(mean=149.6, variance=523.3)(thalach),
        keras.layers.CategoryEncoding(num_tokens=2, output_mode="one_hot")(sex),
        keras.layers.CategoryEncoding(num_tokens=5, output_mode="one_hot")(cp)])
    hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(32, activation="relu")(features))
    twin = keras.Model([age, sex, cp, thalach], keras.layers.Dense(1, activation="sigmoid")(hidden))
    assert model.count_params() == twin.count_params()
    for mine, theirs in zip(model.trainable_weights, twin.trainable_weights, strict=True):
        theirs.assign(mine)
    x = open_data(heart_csv(tmp_path / "h.csv", rows=8), model).x
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)["target"]),
                               np.asarray(twin.predict(x, verbose=0)), atol=1e-6)


SHAPES_SPEC = """\
declar: 2
name: shapes
inputs:
  grid: {shape: [2, 2]}
  count: {shape: [], dtype: int32}
model:
  nodes:
    flat: {Flatten: {}, inputs: grid}
    label: {Dense: {units: 3, activation: softmax}, inputs: flat}
  outputs: {label: label}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""


def test_csv_columns_follow_the_convention(tmp_path):
    """name for one value, name_0..name_{n-1} row-major for more; an output of several values as one
    column of class labels or as its n columns; other columns ignored."""
    model = declar.build(SHAPES_SPEC)
    labels = tmp_path / "labels.csv"
    labels.write_text("grid_0,grid_1,grid_2,grid_3,count,label,unused\n1,2,3,4,7,2,x\n5,6,7,8,-1,0,y\n")
    read = open_data(labels, model)
    grid, count = read.x
    np.testing.assert_array_equal(grid, [[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
    assert grid.dtype == np.float32 and count.dtype == np.int32 and count.tolist() == [7, -1]
    assert read.y["label"].tolist() == [2, 0] and not read.batched
    onehot = tmp_path / "onehot.csv"
    onehot.write_text("count,label_0,label_1,label_2,grid_0,grid_1,grid_2,grid_3\n1,0,0,1,1,2,3,4\n")
    assert open_data(onehot, model).y["label"].tolist() == [[0.0, 0.0, 1.0]]


def test_csv_npz_and_tfrecord_train_the_same_weights(tmp_path):
    """One data set in three files: each source gives model.fit the same examples in the same batches."""
    rng = np.random.default_rng(3)
    x, y = rng.random((24, 8)).astype("float32"), np.eye(4, dtype="float32")[rng.integers(0, 4, 24)]
    np.savez(tmp_path / "d.npz", x=x, dense_1=y)
    columns = [f"x_{i}" for i in range(8)] + [f"dense_1_{i}" for i in range(4)]
    (tmp_path / "d.csv").write_text(",".join(columns) + "\n" + "".join(
        ",".join(repr(float(v)) for v in row) + "\n" for row in np.concatenate([x, y], axis=1)))
    tfrecord_file(tmp_path / "d.tfrecord", [{"x": [float(v) for v in a], "dense_1": [float(v) for v in b]}
                                            for a, b in zip(x, y, strict=True)])
    weights = {}
    for kind in ("npz", "csv", "tfrecord"):
        out = tmp_path / f"{kind}.keras"
        declar.fit(COMPILE_SPEC, tmp_path / f"d.{kind}", out, epochs=2, batch_size=8, verbose=0)
        weights[kind] = [np.asarray(w) for w in declar.load(out).weights]
    for kind in ("csv", "tfrecord"):
        for a, b in zip(weights["npz"], weights[kind], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6, err_msg=kind)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="string tensors: TensorFlow backend")
def test_string_columns_feed_string_inputs(tmp_path):
    data = tmp_path / "thal.csv"
    rows = [("61", "reversible", "1"), ("45", "normal", "0"), ("58", "fixed", "1"), ("39", "normal", "0")] * 6
    data.write_text("age,thal,target\n" + "".join(",".join(r) + "\n" for r in rows))
    out = tmp_path / "thal.keras"
    history = declar.fit(STRINGS, data, out, epochs=30, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model = declar.load(out)
    read = open_data(data, model)
    predicted = np.asarray(model.predict(read.x, verbose=0)["target"]).ravel()
    assert predicted[2] > predicted[1]  # "fixed" and older: the positive class


# -- directories of images -----------------------------------------------------------------------------


def test_a_convnet_trains_from_an_image_directory_by_declar_fit(tmp_path):
    images = image_directory(tmp_path / "images", {"cats": 16, "dogs": 16})
    out = tmp_path / "images.keras"
    result = cli("fit", str(IMAGES), "--data", str(images), "--out", str(out))  # epochs, batches: the spec's
    assert result.exit_code == 0, result.output
    trained = declar.load(out)
    read = open_data(images, trained, options=ReadOptions(batch_size=32))
    assert read.batched
    assert loss_of(trained, read) < loss_of(declar.build(IMAGES), read)


def test_the_image_example_is_the_keras_io_model(tmp_path):
    model = declar.build(IMAGES)
    twin = keras.Sequential([
        keras.Input((16, 16, 3)), keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(8, 3, strides=2, padding="same"), keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"), keras.layers.SeparableConv2D(16, 3, padding="same"),
        keras.layers.BatchNormalization(), keras.layers.Activation("relu"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.25), keras.layers.Dense(1, activation="sigmoid")])
    assert model.count_params() == twin.count_params()
    for mine, theirs in zip(model.weights, twin.weights, strict=True):
        theirs.assign(mine)
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), np.asarray(twin.predict(x, verbose=0)),
                               atol=1e-6)


CLASSES_SPEC = """\
declar: 2
name: classes
inputs:
  image: {{shape: [8, 6, {channels}]}}
model:
  - Flatten: {{}}
  - Dense: {{units: 3, activation: softmax}}
compile: {{optimizer: adam, loss: {loss}}}
"""


def test_image_size_color_mode_and_labels_come_from_the_model(tmp_path):
    """Images of any size are resized to the input's height and width, converted to its channels;
    labels follow the sorted subdirectory names, one-hot for a categorical loss, integers for a sparse one."""
    root = tmp_path / "three"
    for name, level in (("b_second", 0), ("a_first", 60), ("c_third", 120)):
        (root / name).mkdir(parents=True)
        (root / name / "x.png").write_bytes(png_bytes(20, 10, bytes([level]) * 600))
    (root / "a_first" / "README.txt").write_text("not an image: Keras skips it, and so does the check")
    (root / ".cache").mkdir()  # hidden: not a class, for Keras and for the listing
    (root / ".cache" / "x.png").write_bytes(png_bytes(2, 2))
    for channels, loss, labels in ((1, "categorical_crossentropy", np.eye(3)), (3, "sparse_categorical_crossentropy",
                                                                                 np.arange(3))):
        model = declar.build(CLASSES_SPEC.format(channels=channels, loss=loss))
        images, got = next(iter(open_data(root, model, options=ReadOptions(batch_size=3)).x))
        assert tuple(images.shape) == (3, 8, 6, channels)
        np.testing.assert_array_equal(np.asarray(got), labels)  # not shuffled: a_first, b_second, c_third
        for image, level in zip(np.asarray(images), (60, 0, 120), strict=True):  # a uniform gray, resized
            np.testing.assert_allclose(image, level, atol=1)


def test_a_dataset_takes_no_validation_split_and_no_batch_size(tmp_path):
    images = image_directory(tmp_path / "images", {"cats": 2, "dogs": 2})
    out = tmp_path / "m.keras"
    result = cli("fit", str(IMAGES), "--data", str(images), "--out", str(out), "--validation-split", "0.25")
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {images}: validation_split cannot split a dataset (it comes in batches); "
                                    "give validation data instead (training.validation_data)")
    assert not out.exists()
    read = open_data(images, declar.build(IMAGES))
    arguments = read.fit_arguments({"epochs": 1, "batch_size": 8, "validation_split": 0.0}, validation=read)
    assert "batch_size" not in arguments and "validation_split" not in arguments
    assert arguments["validation_data"] is read.x


VALIDATED_SPEC = """\
declar: 2
name: validated
inputs:
  x: {{shape: [8]}}
model:
  - Dense: {{units: 4, activation: softmax, name: dense_1}}
compile: {{optimizer: adam, loss: categorical_crossentropy}}
training:
  epochs: 2
  validation_data: {validation}
"""


def test_validation_data_is_read_by_the_same_sources_and_its_refusal_is_located(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.random((16, 8)).astype("float32"),
             dense_1=np.eye(4, dtype="float32")[rng.integers(0, 4, 16)])
    # One column of class labels, one-hot encoded for the categorical loss.
    (tmp_path / "val.csv").write_text("x_0,x_1,x_2,x_3,x_4,x_5,x_6,x_7,dense_1\n" + "0.5,1,2,3,4,5,6,7,2\n" * 4)
    spec = tmp_path / "spec.yaml"
    spec.write_text(VALIDATED_SPEC.format(validation="val.csv"))
    history = declar.fit(spec, tmp_path / "train.npz", tmp_path / "m.keras", verbose=0)
    assert len(history.history["val_loss"]) == 2
    spec.write_text(VALIDATED_SPEC.format(validation="missing_column.csv"))
    (tmp_path / "missing_column.csv").write_text("x_0,dense_1\n1,2\n")
    result = cli("fit", str(spec), "--data", str(tmp_path / "train.npz"), "--out", str(tmp_path / "n.keras"))
    assert result.exit_code == 1
    assert result.output.startswith(f"{spec}:10:20: error: {tmp_path}/missing_column.csv: no columns ['x_1', ")
    assert not (tmp_path / "n.keras").exists()


# -- TFRecord ------------------------------------------------------------------------------------------


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TFRecord: TensorFlow backend")
def test_a_two_input_model_trains_from_tfrecord_by_declar_fit(tmp_path):
    """Features named after two inputs and two named outputs; the topic given as a class label, which
    the categorical loss takes one-hot."""
    rng = np.random.default_rng(1)
    examples = [{"features": rng.random(16).tolist(), "context": rng.random(8).tolist(),
                 "score": [float(rng.integers(0, 2))], "topic": [int(rng.integers(0, 4))]} for _ in range(40)]
    data = tfrecord_file(tmp_path / "d.tfrecord", examples)
    out = tmp_path / "m.keras"
    spec = ROOT / "specs" / "examples" / "two_input_residual.yaml"
    result = cli("fit", str(spec), "--data", str(data), "--out", str(out), "--epochs", "3", "--batch-size", "8")
    assert result.exit_code == 0, result.output
    model = declar.load(out)
    assert int(model.optimizer.iterations.numpy()) == 3 * 5
    batch_x, batch_y = next(iter(open_data(data, model).x))
    np.testing.assert_allclose(np.asarray(batch_x[0])[0], examples[0]["features"], rtol=1e-6)
    assert sorted(batch_y) == ["score", "topic"]
    np.testing.assert_array_equal(np.asarray(batch_y["topic"])[0], np.eye(4)[examples[0]["topic"][0]])


@pytest.mark.slow
def test_on_another_backend_images_train_and_tfrecord_and_strings_are_refused(tmp_path):
    """On JAX (a fresh process): an image directory trains (Keras's utility makes a tf.data dataset,
    which every backend takes); TFRecord and string inputs are refused with a message naming the
    backend, never a traceback."""
    pytest.importorskip("jax")
    tfrecord_file(tmp_path / "d.tfrecord", [{"x": [0.0] * 8, "dense_1": [0.0] * 4}])
    (tmp_path / "s.csv").write_text("age,thal,target\n1,fixed,0\n")
    images = image_directory(tmp_path / "images", {"cats": 4, "dogs": 4})
    script = (f"import declar\nfrom declar.training_data import open_data\n"
              f"h = declar.fit({str(IMAGES)!r}, {str(images)!r}, {str(tmp_path / 'm.keras')!r}, epochs=2, verbose=0)\n"
              "print(len(h.history['loss']))\n"
              f"for spec, path in (({str(COMPILE_SPEC)!r}, {str(tmp_path / 'd.tfrecord')!r}), "
              f"({str(STRINGS)!r}, {str(tmp_path / 's.csv')!r})):\n"
              "    try:\n        open_data(path, declar.build(spec))\n"
              "    except declar.DataError as err:\n        print(err)\n")
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    epochs, tfrecord_refusal, strings_refusal = proc.stdout.splitlines()
    assert epochs == "2" and (tmp_path / "m.keras").exists()
    assert tfrecord_refusal == (f"{tmp_path}/d.tfrecord: TFRecord files are read by TensorFlow's tf.data, on the "
                                "TensorFlow backend only (this is jax); run with KERAS_BACKEND=tensorflow, or convert "
                                "the data to .npz")
    assert strings_refusal.startswith(f"{tmp_path}/s.csv: string inputs ['thal'] train on the TensorFlow backend only")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="string tensors: TensorFlow backend")
def test_npz_text_arrays_feed_string_inputs_and_only_them(tmp_path):
    text = np.array([["fixed"], ["normal"], ["reversible"]])
    np.savez(tmp_path / "ok.npz", age=np.ones((3, 1), "float32"), thal=text, target=np.ones((3, 1), "float32"))
    model = declar.build(STRINGS)
    _, thal = open_data(tmp_path / "ok.npz", model).x
    assert thal.dtype == "string" and [v.decode() for v in np.asarray(thal).ravel()] == ["fixed", "normal",
                                                                                          "reversible"]
    np.savez(tmp_path / "numbers.npz", age=np.ones((3, 1), "float32"), thal=np.ones((3, 1)),
             target=np.ones((3, 1), "float32"))
    with pytest.raises(declar.DataError, match="array 'thal' has dtype float64; input 'thal' of dtype string takes "
                                               "text"):
        open_data(tmp_path / "numbers.npz", model)
    np.savez(tmp_path / "text_age.npz", age=text, thal=text, target=np.ones((3, 1), "float32"))
    with pytest.raises(declar.DataError, match="array 'age' has dtype <U10; training data must be numbers"):
        open_data(tmp_path / "text_age.npz", model)


TRAINING_DATA_SPEC = """\
declar: 2
name: from_the_section
inputs:
  x: {shape: [8]}
model:
  - Dense: {units: 4, activation: softmax, name: dense_1}
compile: {optimizer: adam, loss: categorical_crossentropy}
training:
  data: train.csv
"""


def test_training_data_named_by_the_spec_is_read_relative_to_it_and_located(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(TRAINING_DATA_SPEC)
    (tmp_path / "train.csv").write_text("x_0,x_1,x_2,x_3,x_4,x_5,x_6,x_7,dense_1\n" + "1,2,3,4,5,6,7,8,3\n" * 8)
    history = declar.fit(spec, None, tmp_path / "m.keras", verbose=0)
    assert len(history.history["loss"]) == 1
    (tmp_path / "train.csv").write_text("x_0,x_1,x_2,x_3,x_4,x_5,x_6,x_7,dense_1\n" + "1,2,3,4,5,6,7,8,9\n")
    with pytest.raises(declar.DataError) as caught:
        declar.fit(spec, None, tmp_path / "n.keras", verbose=0)
    assert str(caught.value) == (
        f"{spec}:9:9: error: {tmp_path}/train.csv: column 'dense_1' holds label 9 (row 1); output 'dense_1' of shape "
        "[4] takes labels 0..3, or give columns dense_1_0..dense_1_3 (the data this key names was refused; the "
        "message says what to change)")
    assert not (tmp_path / "n.keras").exists()
    with pytest.raises(declar.DataError, match="no training data: give --data, or data: in the spec's training"):
        declar.fit(COMPILE_SPEC, None, tmp_path / "n.keras", verbose=0)


def test_real_jpeg_images_pass_the_header_check_and_are_decoded(tmp_path):
    import tensorflow as tf

    for name, level in (("dark", 30), ("bright", 220)):
        (tmp_path / "jpegs" / name).mkdir(parents=True)
        for i in range(2):
            image = tf.constant(np.full((24, 20, 3), level, "uint8"))
            (tmp_path / "jpegs" / name / f"{i}.jpg").write_bytes(tf.io.encode_jpeg(image).numpy())
    read = open_data(tmp_path / "jpegs", declar.build(IMAGES), options=ReadOptions(batch_size=4))
    images, labels = next(iter(read.x))
    assert np.asarray(labels).ravel().tolist() == [0.0, 0.0, 1.0, 1.0]  # bright, then dark: sorted names
    np.testing.assert_allclose(np.asarray(images)[[0, 3]].mean(axis=(1, 2, 3)), [220, 30], atol=2)
