"""`declar import`: Keras models written by hand become specs whose archives predict bit-identically.

Each model is saved by plain Keras (`model.save`), imported from the file, and checked three ways:
the imported spec validates clean, builds a model of the same parameter count, and its archive
predicts bit-identically to the original, in this process and (all models in one batch) in a
fresh process that loads the original with Keras's own loader in safe mode and the archive with
`declar.load`. Models holding Python code are refused, each such layer named.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.importer.check import differences, outputs
from declar.limits import Limits, current_limits
from declar.verify import probe_inputs
from tests.sequence_twins import bidirectional_lstm, seq2seq_lstm, timedistributed_video
from tests.test_architectures_vision import autoencoder_twin, toy_resnet_twin

SPECS = Path(__file__).resolve().parent.parent / "specs"


# -- hand-written Keras models of the kinds the issue lists -------------------------------------

def sequential_mlp() -> keras.Model:
    return keras.Sequential([keras.Input((8,), name="features"),
                             layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01)),
                             layers.Dropout(0.2), layers.Dense(3, activation="softmax", name="probs")],
                            name="mlp")


def convnet() -> keras.Model:
    return keras.Sequential([keras.Input((12, 12, 1), name="image"),
                             layers.Conv2D(4, 3, activation="relu", padding="same"),
                             layers.BatchNormalization(momentum=0.9), layers.MaxPooling2D(2),
                             layers.Conv2D(8, (3, 3), strides=2, kernel_initializer="he_normal"),
                             layers.GlobalAveragePooling2D(), layers.Dense(10)], name="convnet")


def multi_io() -> keras.Model:
    title, body = keras.Input((6,), name="title"), keras.Input((4,), name="body")
    merged = layers.Concatenate(name="merged")([layers.Dense(8, name="t")(title), layers.Dense(8, name="b")(body)])
    priority = layers.Dense(1, activation="sigmoid", name="priority")(merged)
    department = layers.Dense(3, activation="softmax", name="department")(merged)
    model = keras.Model([title, body], [priority, department], name="tickets")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.002),
                  loss={"priority": "binary_crossentropy", "department": "categorical_crossentropy"},
                  loss_weights={"priority": 1.0, "department": 0.2}, metrics={"department": ["accuracy"]})
    return model


def residual() -> keras.Model:
    x = keras.Input((8,), name="x")
    h = layers.Dense(8, activation="relu", name="h")(x)
    h2 = layers.Dense(8, name="h2")(h)
    out = layers.Activation("relu", name="act")(layers.Add(name="skip")([x, h2]))
    return keras.Model(x, layers.LayerNormalization(epsilon=1e-3, name="norm")(out), name="residual")


def shared_layer() -> keras.Model:
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    ea, eb = shared(a), shared(b)
    return keras.Model([a, b], layers.Subtract(name="diff")([ea, eb]), name="siamese")


def bidirectional() -> keras.Model:
    x = keras.Input((7, 3), name="seq")
    h = layers.Bidirectional(layers.LSTM(4, return_sequences=True), name="bi")(x)
    h = layers.Bidirectional(layers.GRU(3), merge_mode="sum", name="bi_gru")(h)
    return keras.Model(x, layers.Dense(1, name="score")(h), name="bidirectional")


def time_distributed() -> keras.Model:
    x = keras.Input((5, 6, 6, 1), name="frames")
    h = layers.TimeDistributed(layers.Conv2D(2, 3, activation="relu"), name="per_frame")(x)
    h = layers.TimeDistributed(layers.Flatten(), name="flat")(h)
    return keras.Model(x, layers.LSTM(3, name="over_time")(h), name="video")


def nested() -> keras.Model:
    inner_in = keras.Input((6,), name="code_in")
    encoder = keras.Model(inner_in, layers.Dense(3, activation="relu", name="code")(inner_in), name="encoder")
    head = keras.Sequential([keras.Input((3,), name="head_in"), layers.Dense(2, name="logits")], name="head")
    x = keras.Input((6,), name="x")
    return keras.Model(x, head(encoder(x)), name="nested")


def shared_nested() -> keras.Model:
    tower_in = keras.Input((4,), name="tower_in")
    tower = keras.Model(tower_in, layers.Dense(3, name="proj")(tower_in), name="tower")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    return keras.Model([a, b], layers.Dot(axes=1, name="sim")([tower(a), tower(b)]), name="siamese_towers")


def nested_sequential() -> keras.Model:
    inner = keras.Sequential([layers.Dense(3, name="i1"), layers.Dense(2, name="i2")], name="inner")
    return keras.Sequential([keras.Input((5,), name="x"), inner, layers.Dense(1, name="o")], name="outer")


def conv1d_gru() -> keras.Model:
    x = keras.Input((10, 3), name="x")
    h = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, name="c")(x)
    h = layers.GRU(3, reset_after=False, return_sequences=True, name="g")(h)
    return keras.Model(x, layers.GlobalMaxPooling1D(name="p")(layers.LayerNormalization(name="ln")(h)), name="gc")


def attention() -> keras.Model:
    query, memory = keras.Input((4, 8), name="query"), keras.Input((6, 8), name="memory")
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(query, memory)
    return keras.Model([query, memory], layers.GlobalAveragePooling1D(name="pool")(attended), name="attention")


def embedding_lstm() -> keras.Model:
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    h = layers.Embedding(12, 4, mask_zero=True, name="embed")(tokens)
    return keras.Model(tokens, layers.LSTM(3, name="lstm")(h), name="masked")


def lstm_state() -> keras.Model:
    x = keras.Input((5, 2), name="seq")
    _, h, c = layers.LSTM(3, return_state=True, name="encoder")(x)
    return keras.Model(x, [layers.Dense(1, name="from_h")(h), c], name="states")


def from_logits() -> keras.Model:
    model = keras.Sequential([keras.Input((4,), name="x"), layers.Dense(3, name="logits")], name="classifier")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


HAND_WRITTEN = [sequential_mlp, convnet, multi_io, residual, shared_layer, bidirectional, time_distributed, nested,
                shared_nested, nested_sequential, conv1d_gru, attention, embedding_lstm, lstm_state, from_logits]

# Examples under specs/ written as plain Keras code (the twins the architecture tests compare with).
EXAMPLES = {"architectures/bidirectional_lstm": bidirectional_lstm, "architectures/seq2seq_lstm": seq2seq_lstm,
            "architectures/timedistributed_video": timedistributed_video,
            "architectures/toy_resnet": toy_resnet_twin,
            "architectures/autoencoder_nested": lambda: autoencoder_twin()[0]}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Every model saved by Keras, imported from its file (the fresh-process check batched below)."""
    root = tmp_path_factory.mktemp("import")
    results = {}
    for key, maker in [*((m.__name__, m) for m in HAND_WRITTEN), *EXAMPLES.items()]:
        model = maker()
        name = key.replace("/", "_")
        original = root / f"{name}_original.keras"
        model.save(original)
        report = declar.import_model(original, root / f"{name}.yaml", fresh_process=False)
        results[key] = (model, original, report)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("maker", HAND_WRITTEN, ids=lambda m: m.__name__)
def test_a_hand_written_model_imports_to_a_clean_spec_whose_archive_predicts_the_same(imported, maker):
    model, _original, report = imported[maker.__name__]
    assert declar.validate(report.spec) == []
    text = Path(report.spec).read_text()
    assert text.startswith("# yaml-language-server: $schema=https://declar.dev/schemas/declar.schema.json\n")
    archive = declar.load(report.archive)
    assert archive.count_params() == model.count_params() == report.parameters
    inputs = probe_inputs(model, batch=3, seed=7)  # other inputs than the import's own check
    assert differences(outputs(model, inputs), outputs(archive, inputs)) == []
    def names(m):
        return [layer.name for layer in m.layers if layer.__class__.__name__ != "InputLayer"]

    assert names(archive) == names(model)  # names kept, in order


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_an_example_written_in_plain_keras_imports_to_the_model_of_its_spec(imported, name):
    model, _original, report = imported[name]
    assert declar.validate(report.spec) == []
    assert declar.build(SPECS / f"{name}.yaml").count_params() == model.count_params()
    archive = declar.load(report.archive)
    inputs = probe_inputs(model, batch=2, seed=3)
    assert differences(outputs(model, inputs), outputs(archive, inputs)) == []


@pytest.mark.slow
def test_every_archive_predicts_the_same_as_its_original_in_a_fresh_process(imported, tmp_path):
    argv = []
    for key, (model, original, report) in imported.items():
        inputs = probe_inputs(model, batch=2, seed=11)
        expected = outputs(model, inputs)
        probe = tmp_path / f"{key.replace('/', '_')}.npz"
        np.savez(probe, n_inputs=len(inputs), n_outputs=len(expected), **{f"x{i}": x for i, x in enumerate(inputs)},
                 **{f"y{i}": y for i, y in enumerate(expected)})
        argv += [str(original), report.archive, str(probe)]
    run = subprocess.run([sys.executable, "-m", "declar.importer.check", *argv], capture_output=True, text=True,
                         timeout=900)
    assert run.stdout.split() == ["ok"] * len(imported), run.stderr[-2000:]
    assert len(imported) == len(HAND_WRITTEN) + len(EXAMPLES) == 20


def test_defaults_are_left_out_and_names_kept(imported):
    text = Path(imported["convnet"][2].spec).read_text()
    assert "  image: {shape: [12, 12, 1]}\n" in text
    # (a `name:` follows where Keras's numbering, which counts the layers this process made before,
    # differs from the list's own: it depends on the tests that ran first in this worker)
    named = r"(, name: \w+)?\}\n"
    assert re.search(r"  - Conv2D: \{filters: 4, kernel_size: \[3, 3\], padding: same, activation: relu" + named, text)
    assert re.search(r"  - Conv2D: \{filters: 8, kernel_size: \[3, 3\], strides: \[2, 2\], "
                     r"kernel_initializer: he_normal" + named, text)
    assert "  - Dense: {units: 10, name: dense" in text  # a name the list's own numbering would not give
    assert "use_bias" not in text and "dtype" not in text and "trainable" not in text
    resnet = Path(imported["architectures/toy_resnet"][2].spec).read_text()
    assert "{MaxPooling2D: {pool_size: [3, 3]}, inputs: " in resnet  # strides follow from pool_size


def test_graph_forms_shares_wrappers_calls_blocks_and_indexed_outputs(imported):
    def spec(key):
        return Path(imported[key][2].spec).read_text()

    assert "    shared_call2: {shares: shared, inputs: b}\n" in spec("shared_layer")
    assert "  - Bidirectional: {merge_mode: sum, layer: {GRU: {units: 3}}, name: bi_gru}\n" in spec("bidirectional")
    assert "    mha: {MultiHeadAttention: {num_heads: 2, key_dim: 4" in spec("attention")
    assert "inputs: query, call: {value: memory}}\n" in spec("attention")
    assert "  outputs: [from_h, 'encoder[2]']\n" in spec("lstm_state")
    assert "    from_h: {Dense: {units: 1}, inputs: 'encoder[1]'}\n" in spec("lstm_state")
    nested_spec = spec("nested")
    assert "  Encoder:\n    inputs: [code_in]\n" in nested_spec and "  Head:\n    inputs: [head_in]\n" in nested_spec
    assert nested_spec.endswith("model:\n  - Encoder: {}\n  - Head: {}\n")  # a chain of two blocks
    assert "    tower: {Tower: {}, inputs: a}\n    tower_call2: {shares: tower, inputs: b}\n" in spec("shared_nested")
    assert re.search(r"  Inner:\n    inputs: \[input_layer(_\d+)?\]\n", spec("nested_sequential"))  # Keras's name
    assert "  - Embedding: {input_dim: 12, output_dim: 4, mask_zero: true, name: embed}\n  - LSTM: {units: 3}\n" in \
        spec("embedding_lstm")  # the mask Keras computed with not_equal is the Embedding's own


def test_compile_settings_are_carried(imported):
    text = Path(imported["multi_io"][2].spec).read_text()
    assert "compile:\n  optimizer: {name: rmsprop, learning_rate: 0.002}\n" in text
    assert "  loss: {priority: binary_crossentropy, department: categorical_crossentropy}\n" in text
    assert "  loss_weights: {priority: 1.0, department: 0.2}\n" in text
    archive = declar.load(imported["multi_io"][2].archive)
    assert archive.compiled and archive.optimizer.__class__.__name__ == "RMSprop"
    logits = Path(imported["from_logits"][2].spec).read_text()
    assert "  optimizer: {name: sgd, learning_rate: 0.05, momentum: 0.9}\n" in logits
    assert "  loss: {name: sparse_categorical_crossentropy, from_logits: true}\n" in logits
    compiled = declar.load(imported["from_logits"][2].archive)
    assert compiled.loss.get_config()["from_logits"] is True
    assert float(compiled.optimizer.momentum) == 0.9


# -- refusals --------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="my_pkg")
class Scale(layers.Layer):
    def call(self, x):
        return x * 2.0


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.head = layers.Dense(2)

    def call(self, x):
        return self.head(x) * 3.0


def _with_python_code() -> keras.Model:
    x = keras.Input((4,), name="x")
    h = layers.Dense(4, name="hidden")(x)
    h = Scale(name="scale")(h)
    h = layers.Lambda(lambda t: t + 1.0, name="plus_one")(h)
    return keras.Model(x, layers.Dense(1, name="out")(h), name="with_code")


REFUSAL = ("{source} cannot become a spec:\n"
           "  layer 'scale' (class my_pkg>Scale) is custom Python code and cannot become a spec\n"
           "  layer 'plus_one' (class Lambda) is custom Python code and cannot become a spec\n"
           "would import: hidden, out")


def test_a_file_with_a_lambda_and_a_custom_class_is_refused_before_it_is_loaded(tmp_path, monkeypatch):
    path = tmp_path / "with_code.keras"
    _with_python_code().save(path)

    def no_loading(*args, **kwargs):
        raise AssertionError("the file was loaded")

    monkeypatch.setattr(keras.saving, "load_model", no_loading)
    with pytest.raises(declar.ImportRefused) as err:
        declar.import_model(path, tmp_path / "m.yaml")
    assert str(err.value) == REFUSAL.format(source="with_code.keras")
    assert [p.message for p in err.value.problems] == err.value.refused
    assert not (tmp_path / "m.yaml").exists() and not (tmp_path / "m.keras").exists()


def test_a_model_object_with_python_code_is_refused_by_name(tmp_path):
    with pytest.raises(declar.ImportRefused) as err:
        declar.import_model(_with_python_code(), tmp_path / "m.yaml")
    assert str(err.value) == REFUSAL.format(source="a Keras model object")
    model = Subclassed()
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(declar.ImportRefused, match=r"model 'subclassed' \(class .*Subclassed\) subclasses "
                       r"keras.Model with its own call and cannot become a spec"):
        declar.import_model(model, tmp_path / "s.yaml")


def test_the_cli_refuses_with_exit_1_and_the_list(tmp_path):
    path = tmp_path / "with_code.keras"
    _with_python_code().save(path)
    result = CliRunner().invoke(app, ["import", str(path), "-o", str(tmp_path / "m.yaml")])
    assert result.exit_code == 1
    assert result.stderr == "error: " + REFUSAL.format(source="with_code.keras") + "\n"


@pytest.mark.slow
def test_the_cli_writes_the_spec_and_archive_and_checks_in_a_fresh_process(tmp_path):
    original = tmp_path / "keras_mlp.keras"
    sequential_mlp().save(original)
    out = tmp_path / "mlp.yaml"
    result = CliRunner().invoke(app, ["import", str(original), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"wrote {out} (3 layers, 195 parameters)",
        f"wrote {tmp_path / 'mlp.keras'} (the spec's model with the original's weights)",
        "checked: 1 output on a probe batch of 4 bit-identical, original and spec-built model in this process; "
        "original (Keras, safe mode) and archive (declar.load) in a fresh process, too"]
    assert declar.validate(out) == []


def test_names_that_are_not_identifiers_are_made_ones(tmp_path):
    x = keras.Input((4,), name="in-put")
    report = declar.import_model(keras.Model(x, layers.Dense(2, name="dense-1")(x), name="my-model"),
                                 tmp_path / "m.yaml", fresh_process=False)
    text = Path(report.spec).read_text()
    assert "name: my_model\n" in text and "  in_put: {shape: [4]}\n" in text
    assert "  - Dense: {units: 2, name: dense_1}\n" in text
    assert declar.load(report.archive).get_layer("dense_1").count_params() == 10


def test_the_archive_may_not_replace_the_original(tmp_path):
    original = tmp_path / "m.keras"
    sequential_mlp().save(original)
    with pytest.raises(declar.ImportRefused, match="would replace the model being imported; give --archive"):
        declar.import_model(original, tmp_path / "m.yaml")


def test_a_lambda_inside_a_nested_model_and_an_op_without_a_function_are_refused_by_name(tmp_path):
    inner_in = keras.Input((4,), name="inner_in")
    inner = keras.Model(inner_in, layers.Lambda(lambda t: t * 2.0, name="double")(inner_in), name="inner")
    x = keras.Input((4,), name="x")
    with pytest.raises(declar.ImportRefused) as err:
        declar.import_model(keras.Model(x, layers.Dense(1, name="out")(inner(x))), tmp_path / "m.yaml")
    assert err.value.refused == ["layer 'double' (class Lambda) is custom Python code and cannot become a spec"]
    assert err.value.importable == ["out"]
    h = keras.ops.median(layers.Dense(3, name="hidden")(x), axis=1, keepdims=True)
    with pytest.raises(declar.ImportRefused) as err:
        declar.import_model(keras.Model(x, layers.Dense(1, name="out")(h)), tmp_path / "m.yaml")
    assert err.value.refused == ["operation 'median' (keras.ops Median) has no function of the expression language"]
    assert err.value.importable == ["hidden", "out"] and not (tmp_path / "m.yaml").exists()


@keras.saving.register_keras_serializable(package="my_pkg")
class HalfLoss(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return keras.ops.mean(keras.ops.abs(y_true - y_pred)) / 2.0


def test_a_custom_loss_is_refused_by_name(tmp_path):
    model = from_logits()
    model.compile(optimizer="adam", loss=HalfLoss(name="half"))
    path = tmp_path / "custom_loss.keras"
    model.save(path)
    with pytest.raises(declar.ImportRefused) as err:
        declar.import_model(path, tmp_path / "m.yaml")
    assert err.value.refused == ["compile setting 'half' (class my_pkg>HalfLoss) is custom Python code and cannot "
                                 "become a spec"]


def test_keras_ops_calls_of_the_graph_become_op_nodes(tmp_path):
    x, y = keras.Input((4,), name="x"), keras.Input((4,), name="y")
    h = layers.Dense(3, name="h")(x) * 2.0
    joined = keras.ops.concatenate([h, layers.Dense(3, name="k")(y)], axis=-1)
    model = keras.Model([x, y], [layers.Dense(1, name="o")(keras.ops.tanh(joined)), keras.ops.mean(joined, axis=1)])
    report = declar.import_model(model, tmp_path / "m.yaml", fresh_process=False)  # checks the predictions itself
    text = Path(report.spec).read_text()
    n = r"(_\d+)?"  # Keras numbers its operations per process (multiply, multiply_1...)
    assert re.search(rf"\n    multiply{n}_op: {{op: 'multiply\(h, 2.0\)'}}\n", text), text
    assert re.search(rf"\n    concatenate{n}_op: {{op: 'concatenate\(\[multiply{n}_op, k\], axis=-1\)'}}\n", text)
    assert re.search(rf"\n    o: {{Dense: {{units: 1}}, inputs: tanh{n}_op}}\n", text)
    assert re.search(rf"\n  outputs: \[o, mean{n}_op\]\n", text)
    inputs = probe_inputs(model, batch=3, seed=5)
    assert differences(outputs(model, inputs), outputs(declar.load(report.archive), inputs)) == []


def test_a_file_that_is_not_a_keras_archive_or_too_large_is_refused_before_reading(tmp_path):
    bogus = tmp_path / "bogus.keras"
    bogus.write_text("not a zip")
    with pytest.raises(declar.ArchiveError, match=r"not a readable \.keras archive"):
        declar.import_model(bogus, tmp_path / "b.yaml")
    big = tmp_path / "big.keras"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", "{" + " " * 5000 + "}")
        z.writestr("metadata.json", "{}")
    token = current_limits.set(Limits(max_archive_config_bytes=1000))
    try:
        with pytest.raises(declar.ArchiveError, match=r"member config.json declares 5,002 bytes .* over "
                           r"Limits.max_archive_config_bytes = 1,000"):
            declar.import_model(big, tmp_path / "b.yaml")
    finally:
        current_limits.reset(token)
