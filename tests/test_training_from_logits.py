"""Models trained with losses and metrics that take arguments, as their Keras examples write them.

- specs/training/mnist_mlp.yaml: the Functional API guide's MNIST model, compiled with
  ``SparseCategoricalCrossentropy(from_logits=True)``; trained by `declar fit` from the CLI.
- specs/architectures/vit_classifier.yaml: the Vision Transformer example's compile (from_logits
  and a top-5 metric) and specs/architectures/toy_resnet.yaml (CategoricalCrossentropy with
  from_logits).
- specs/training/ocr_ctc.yaml: a captcha reader after the OCR example, with Keras's CTC loss.

Each is compared with its hand-written Keras twin: equal parameter counts and outputs with the
weights copied, and the twin compiled with the example's own loss objects gives the same loss.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers
from test_architectures_vision import toy_resnet_twin, vit_twin
from twins import assert_same_model, copy_weights
from typer.testing import CliRunner

import declar
from declar.api import data_names
from declar.cli import app

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT / "specs" / "training" / "mnist_mlp.yaml"
OCR = ROOT / "specs" / "training" / "ocr_ctc.yaml"
ARCHITECTURES = ROOT / "specs" / "architectures"


def mnist_twin() -> keras.Model:
    """The guide's code (keras.io/guides/functional_api, "Training, evaluation, and inference")."""
    inputs = keras.Input(shape=(784,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable stand-ins for MNIST: pixels in [0, 1), the label the argmax of a fixed projection."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784)).astype("float32")
    projection = np.random.default_rng(99).normal(size=(784, 10)).astype("float32")
    return x, np.argmax(x @ projection, axis=1).astype("int32")


def test_mnist_mlp_is_the_guides_model():
    assert_same_model(MNIST, mnist_twin())


def test_a_training_step_gives_the_loss_of_the_twin_compiled_as_the_guide():
    model, twin = declar.build(MNIST), mnist_twin()
    copy_weights(model, twin)
    twin.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
    x, y = digits(64)
    ours = model.train_on_batch(x, y, return_dict=True)
    theirs = twin.train_on_batch(x, y, return_dict=True)
    assert ours.keys() == theirs.keys() == {"loss", "accuracy"}
    np.testing.assert_allclose(ours["loss"], theirs["loss"], atol=1e-6)
    assert ours["accuracy"] == theirs["accuracy"]
    for a, b in zip(model.weights, twin.weights, strict=True):  # the same step: the same gradients
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_from_logits_differs_from_reading_probabilities():
    """The argument reaches Keras: the same logits give another loss read as probabilities."""
    model = declar.build(MNIST)
    x, y = digits(32)
    logits = model.predict(x, verbose=0)
    ours = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(ours, float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)),
                               rtol=1e-5)
    # Keras's default (from_logits=False) would read the logits as probabilities
    assert not math.isclose(ours, float(keras.losses.SparseCategoricalCrossentropy()(y, logits)), rel_tol=1e-3)


def test_declar_fit_trains_the_spec_from_the_command_line(tmp_path):
    x, y = digits(128)
    model = declar.build(MNIST)
    inputs, outputs = data_names(model)
    np.savez(tmp_path / "mnist.npz", **{inputs[0]: x, outputs[0]: y})
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    out = tmp_path / "mnist.keras"
    result = CliRunner().invoke(app, ["fit", str(MNIST), "--data", str(tmp_path / "mnist.npz"), "--out", str(out),
                                      "--batch-size", "64", "--epochs", "3"])
    assert result.exit_code == 0, result.output
    trained = keras.models.load_model(out)
    assert int(trained.optimizer.iterations.numpy()) == 3 * 2  # 3 epochs of 2 batches
    after = trained.evaluate(x, y, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"]
    loss = trained.loss
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy) and loss.get_config()["from_logits"]


# -- the examples' compile settings on their twins ---------------------------------------------------


@pytest.mark.slow
def test_vit_compiles_as_the_example_and_evaluates_as_its_twin():
    twin = vit_twin()
    assert_same_model(ARCHITECTURES / "vit_classifier.yaml", twin)
    model = declar.build(ARCHITECTURES / "vit_classifier.yaml")
    copy_weights(model, twin)
    twin.compile(optimizer=keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.0001),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 metrics=[keras.metrics.SparseCategoricalAccuracy(),
                          keras.metrics.SparseTopKCategoricalAccuracy(5)])
    rng = np.random.default_rng(1)
    x, y = rng.random((16, 16, 16, 3)).astype("float32"), rng.integers(0, 10, size=(16, 1))  # CIFAR's (n, 1)
    ours = model.evaluate(x, y, verbose=0, return_dict=True)
    theirs = twin.evaluate(x, y, verbose=0, return_dict=True)
    assert ours.keys() == theirs.keys() == {"loss", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"}
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-6)


def test_toy_resnet_compiles_as_the_guide():
    twin = toy_resnet_twin()
    model = declar.build(ARCHITECTURES / "toy_resnet.yaml")
    copy_weights(model, twin)
    twin.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                 loss=keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["categorical_accuracy"])
    rng = np.random.default_rng(2)
    x = rng.random((8, 32, 32, 3)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, size=8)]
    ours, theirs = model.evaluate(x, y, verbose=0, return_dict=True), twin.evaluate(x, y, verbose=0, return_dict=True)
    for key in ("loss", "categorical_accuracy"):
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-6)


# -- CTC ------------------------------------------------------------------------------------------


def ocr_twin(img_width: int = 32, img_height: int = 8, characters: int = 5) -> keras.Model:
    """The OCR example's model at tiny sizes, ending in logits for keras.losses.CTC."""
    input_img = layers.Input(shape=(img_width, img_height, 1), name="image", dtype="float32")
    x = layers.Conv2D(4, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
                      name="Conv1")(input_img)
    x = layers.MaxPooling2D((2, 2), name="pool1")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
                      name="Conv2")(x)
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)
    new_shape = ((img_width // 4), (img_height // 4) * 8)
    x = layers.Reshape(target_shape=new_shape, name="reshape")(x)
    x = layers.Dense(16, activation="relu", name="dense1")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True, dropout=0.25))(x)
    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True, dropout=0.25))(x)
    output = layers.Dense(characters + 1, name="dense2")(x)  # the example's softmax is CTC's to apply
    return keras.Model(inputs=input_img, outputs=output, name="ocr_model_v1")


def captchas(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Images and their labels: 4 characters in [1, 5] each (0 is CTC's blank)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 32, 8, 1)).astype("float32"), rng.integers(1, 6, size=(n, 4)).astype("int32")


def test_ocr_ctc_is_the_examples_model_and_its_loss_is_kerass_ctc():
    twin = ocr_twin()
    assert_same_model(OCR, twin)
    model = declar.build(OCR)
    copy_weights(model, twin)
    twin.compile(optimizer=keras.optimizers.Adam(), loss=keras.losses.CTC())
    x, y = captchas(8)
    ours, theirs = model.evaluate(x, y, verbose=0), twin.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert ours > 0


def test_ocr_ctc_trains_a_step():
    model = declar.build(OCR)
    x, y = captchas(8)
    start = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss) and loss > 0
    assert int(model.optimizer.iterations.numpy()) == 1
    assert all(not np.array_equal(a, w.numpy()) for a, w in zip(start, model.trainable_weights, strict=True))
