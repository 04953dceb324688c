"""Compile settings with arguments: losses and metrics as ``{name, ...arguments}`` (per output too),
spec functions with params, the CTC loss; each mistake located at file:line:col at validate (no
Keras), the Keras objects built with their arguments, shown by `declar diff`, and restored by an
archive loaded in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run_worker
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.spec.catalog import catalog

ROOT = Path(__file__).resolve().parent.parent
TWO_HEADS = ROOT / "tests" / "specs" / "compile_args" / "two_heads.yaml"
TRAINING = ROOT / "specs" / "training"

ONE_OUTPUT = """\
declar: 2
name: m
inputs:
  x: {shape: [4]}
model:
  - Dense: {units: 3}
"""
TWO_OUTPUTS = """\
declar: 2
name: m
inputs:
  x: {shape: [4]}
model:
  nodes:
    digit: {Dense: {units: 3}, inputs: x}
    box: {Dense: {units: 2}, inputs: x}
  outputs: [digit, box]
"""
# An output literally named `name`, beside `box`.
NAME_OUTPUT = TWO_OUTPUTS.replace("digit", "name")
FOCAL = """\
functions:
  focal:
    args: [y_true, y_pred]
    params:
      gamma: {type: number, default: 2.0}
      alpha: {type: number}
    expr: "alpha * mean(abs(y_pred - y_true) ** gamma, axis=-1)"
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return [p.render().replace(str(path), "spec.yaml") for p in declar.validate(path)]


ERRORS = {
    "unknown argument, with did-you-mean": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: {name: sparse_categorical_crossentropy, from_logit: true}\n",
        ["spec.yaml:9:49: error: loss 'sparse_categorical_crossentropy' has no argument 'from_logit' "
         "(did you mean 'from_logits'?)"]),
    "wrong type of a metric argument": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: mse\n"
        "  metrics: [accuracy, {name: sparse_top_k_categorical_accuracy, k: five}]\n",
        ["spec.yaml:10:68: error: metric argument 'k' expects integer, got str 'five'"]),
    "an integer argument given a fraction": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: mse\n"
        "  metrics: [{name: sparse_top_k_categorical_accuracy, k: 2.5}]\n",
        ["spec.yaml:10:58: error: metric argument 'k' expects integer, got float 2.5"]),
    "missing required argument, with arguments and by bare name": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: mse\n"
        "  metrics: [{name: mean_io_u, ignore_class: 0}, mean_io_u]\n",
        ["spec.yaml:10:13: error: metric 'mean_io_u' needs argument 'num_classes' "
         "(write {name: mean_io_u, num_classes: ...})",
         "spec.yaml:10:49: error: metric 'mean_io_u' needs argument 'num_classes' "
         "(write {name: mean_io_u, num_classes: ...})"]),
    "unknown name": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n"
        "  loss: {name: sparse_categorical_crossentropyy, from_logits: true}\n",
        ["spec.yaml:9:16: error: unknown loss 'sparse_categorical_crossentropyy' "
         "(did you mean 'sparse_categorical_crossentropy'?)"]),
    "a loss given as a metric": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: mse\n  metrics: [{name: huber, delta: 2.0}]\n",
        ["spec.yaml:10:20: error: unknown metric 'huber' ('huber' is a Keras loss, not a metric)"]),
    "unknown reduction": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: {name: mse, reduction: sum_over_batch}\n",
        ["spec.yaml:9:32: error: unknown reduction 'sum_over_batch' (did you mean 'sum_over_batch_size'?)"]),
    "unknown dtype policy": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: mse\n  metrics: [{name: accuracy, dtype: float99}]\n",
        ["spec.yaml:10:37: error: unknown dtype policy 'float99' (did you mean 'float64'?)"]),
    "a Keras object as an argument": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: {name: huber, delta: {class_name: Zeros}}\n",
        ["spec.yaml:9:43: error: loss argument 'delta' takes a plain value, not a Keras object (class_name) "
         "(declar passes Keras objects only in activation, initializer, regularizer, constraint and layer "
         "arguments)"]),
    "a name that is not a string": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: {name: 5, from_logits: true}\n",
        ["spec.yaml:9:16: error: expected the name of a loss, got int 5"]),
    "one metric where metrics is a list": (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: mse\n"
        "  metrics: {name: sparse_top_k_categorical_accuracy, k: 5}\n",
        ["spec.yaml:10:12: error: metrics is a list of metrics (or a mapping by output name), got one metric "
         "(write metrics: [{name: sparse_top_k_categorical_accuracy, ...}])"]),
    "per output: each value checked where it is": (
        TWO_OUTPUTS + "compile:\n  optimizer: adam\n  loss:\n"
        "    digit: {name: sparse_categorical_crossentropy, from_logits: yes please}\n    boxx: mse\n"
        "  metrics:\n    digit: [{name: sparse_top_k_categorical_accuracy, kk: 2}]\n    box: {name: mean_io_u}\n",
        ["spec.yaml:13:65: error: loss argument 'from_logits' expects boolean, got str 'yes please'",
         "spec.yaml:14:5: error: 'boxx' is not an output of the model (did you mean 'box'?)",
         "spec.yaml:16:55: error: metric 'sparse_top_k_categorical_accuracy' has no argument 'kk' "
         "(did you mean 'k'?)",
         "spec.yaml:17:10: error: metric 'mean_io_u' needs argument 'num_classes' "
         "(write {name: mean_io_u, num_classes: ...})"]),
    "an output named `name` beside a string name key": (
        NAME_OUTPUT + "compile:\n  optimizer: adam\n  loss: {name: mse, box: mae}\n",
        ["spec.yaml:12:10: error: loss: a mapping with a string 'name' is one loss ('mse'), but the model also "
         "has an output named 'name' (give the output 'name' its loss as a mapping (name: {name: mse}), or give "
         "one loss per output as a list in output order)"]),
    "an output's name given as an argument of one loss": (
        TWO_OUTPUTS + "compile:\n  optimizer: adam\n  loss: {name: mse, box: mae}\n",
        ["spec.yaml:12:21: error: loss 'mse' has no argument 'box' ('box' is an output: a mapping with a string "
         "'name' is one loss; for one per output, leave out 'name' and give each output its own)"]),
    "function params: unknown, missing, wrong type": (
        ONE_OUTPUT + FOCAL + "compile:\n  optimizer: adam\n  loss: {name: focal, gama: 3.0}\n"
        "  metrics: [{name: focal, alpha: true}]\n",
        ["spec.yaml:16:9: error: function 'focal' needs param 'alpha' (write {name: focal, alpha: ...})",
         "spec.yaml:16:23: error: function 'focal' has no param 'gama' (did you mean 'gamma'?)",
         "spec.yaml:17:34: error: 'alpha' expects number, got bool True"]),
    "function params: a default of the wrong type, a param named like an arg, a misspelt param": (
        ONE_OUTPUT + FOCAL.replace("default: 2.0", "default: two").replace(
            "      alpha: {type: number}\n", "      alpha: {type: number}\n      y_pred: {type: number, default: 1}\n"
        ).replace("** gamma", "** gama") + "compile:\n  optimizer: adam\n  loss: {name: focal, alpha: 1}\n",
        ["spec.yaml:11:38: error: 'gamma' expects number, got str 'two'",
         "spec.yaml:13:7: error: function 'focal' has both an arg and a param named 'y_pred' (rename one of them)",
         "spec.yaml:14:49: error: unknown name 'gama' in function focal (did you mean 'gamma'?)"]),
    "function params of a type a loss cannot read": (
        ONE_OUTPUT + FOCAL.replace("alpha: {type: number}", "alpha: {type: initializer}")
        + "compile:\n  optimizer: adam\n  loss: {name: focal, alpha: 1}\n",
        ["spec.yaml:12:21: error: \"initializer\" is not one of \"integer\", \"number\", \"boolean\""]),
}


@pytest.mark.parametrize("text, expected", ERRORS.values(), ids=list(ERRORS))
def test_each_mistake_is_located_at_validate(tmp_path, text, expected):
    assert problems(tmp_path, text) == expected


def test_valid_forms_validate(tmp_path):
    for text in (
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: {name: sparse_categorical_crossentropy, from_logits: true}\n"
        "  metrics: [accuracy, {name: sparse_top_k_categorical_accuracy, k: 5}]\n"
        "  weighted_metrics: [{name: mean_io_u, num_classes: 3}]\n",
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: ctc\n",
        # the metric's label_smoothing defaults to the integer 0 in Keras, yet takes fractions
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: mse\n"
        "  metrics: [{name: binary_crossentropy, label_smoothing: 0.1}]\n",
        ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: {name: ctc, reduction: sum}\n",
        ONE_OUTPUT + FOCAL + "compile:\n  optimizer: adam\n  loss: {name: focal, alpha: 1, gamma: 3}\n",
        # the output `name` gets its loss as a mapping, so the mapping is by output
        NAME_OUTPUT + "compile:\n  optimizer: adam\n  loss: {name: {name: huber, delta: 2.0}, box: mae}\n"
        "  metrics: {name: [{name: top_k_categorical_accuracy, k: 2}], box: mse}\n",
        NAME_OUTPUT + "compile:\n  optimizer: adam\n  loss: [{name: huber, delta: 2.0}, mae]\n",
    ):
        assert problems(tmp_path, text) == [], text


def test_catalog_has_the_signature_of_every_loss_and_metric_class():
    """What validation checks against, read from Keras by devtools/catalog.py (a staleness test keeps it)."""
    losses, metrics = catalog().loss_classes, catalog().metric_classes
    assert losses["sparse_categorical_crossentropy"].class_name == "SparseCategoricalCrossentropy"
    assert losses["mse"].class_name == "MeanSquaredError"  # an alias, to the class of its function
    assert losses["ctc"].class_name == "CTC"
    assert metrics["sparse_top_k_categorical_accuracy"].types["k"] == "integer"
    assert metrics["mean_io_u"].required == ("num_classes",)


def test_validate_never_imports_keras():
    code = ("import sys, declar; assert not declar.validate(sys.argv[1]); assert not declar.validate(sys.argv[2]); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'")
    run = subprocess.run([sys.executable, "-c", code, str(TWO_HEADS), str(TRAINING / "ocr_ctc.yaml")],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]


# -- build ----------------------------------------------------------------------------------------


def compile_config(model: keras.Model) -> dict:
    """The compile arguments as Keras serializes them (a declar archive stores {"declar": true})."""
    return keras.Model.get_compile_config(model)


def test_built_keras_objects_carry_their_arguments():
    model = declar.build(TWO_HEADS)
    loss = model.loss
    assert isinstance(loss["digit"], keras.losses.CategoricalCrossentropy)
    assert loss["digit"].get_config()["from_logits"] is True
    assert loss["digit"].get_config()["label_smoothing"] == 0.1
    assert type(loss["box"]).__name__ == "DeclarLoss" and loss["box"].params == {"gamma": 3.0, "alpha": 0.5}
    metrics = compile_config(model)["metrics"]
    top_k = metrics["digit"][0]
    assert top_k["class_name"] == "TopKCategoricalAccuracy" and top_k["config"]["k"] == 2
    assert metrics["digit"][1] == "categorical_accuracy"  # a bare name stays Keras's to resolve
    focal_metric = metrics["box"][0]["config"]
    assert focal_metric["params"] == {"gamma": 2.0, "alpha": 1.0}  # the default where the metric gives none
    assert metrics["box"][1]["class_name"] == "CosineSimilarity"
    weighted = compile_config(model)["weighted_metrics"]["digit"]
    assert weighted["class_name"] == "CategoricalCrossentropy" and weighted["config"]["from_logits"] is True


def test_a_spec_function_with_params_computes_with_the_given_values():
    model = declar.build(TWO_HEADS)
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.random((5, 2)).astype("float32"), rng.random((5, 2)).astype("float32")
    expected = np.mean(0.5 * np.mean(np.abs(y_pred - y_true) ** 3.0, axis=-1))
    got = float(keras.ops.convert_to_numpy(model.loss["box"](y_true, y_pred)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_loss_class_keras_does_not_resolve_by_name_is_made_by_declar(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: categorical_generalized_cross_entropy\n")
    with pytest.raises(ValueError):
        keras.losses.get("categorical_generalized_cross_entropy")
    assert declar.validate(path) == []
    assert isinstance(declar.build(path).loss, keras.losses.CategoricalGeneralizedCrossEntropy)


def test_the_loss_of_the_output_named_name(tmp_path):
    path = tmp_path / "named.yaml"
    path.write_text(NAME_OUTPUT + "compile:\n  optimizer: adam\n  loss: {name: {name: huber, delta: 2.0}, box: mae}\n")
    model = declar.build(path)
    assert sorted(model.loss) == ["box", "name"]
    assert isinstance(model.loss["name"], keras.losses.Huber) and model.loss["box"] == "mae"


def test_an_argument_value_keras_refuses_is_located_at_build(tmp_path):
    """A value only Keras's constructor knows wrong (an AUC curve) is still placed at its metric."""
    path = tmp_path / "spec.yaml"
    path.write_text(ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: mse\n"
                    "  metrics: [accuracy, {name: auc, curve: RUC}]\n")
    assert declar.validate(path) == []
    with pytest.raises(declar.BuildError) as caught:
        declar.build(path)
    assert [p.render().replace(str(path), "spec.yaml") for p in caught.value.problems] == [
        'spec.yaml:10:23: error: ValueError: Invalid AUC curve value: "RUC". Expected values are ["PR", "ROC", '
        '"PRGAIN"] (Keras refused this loss or metric)']


def test_keras_refuses_what_validate_refuses():
    """The catalog's types agree with Keras: what validate calls wrong, Keras's constructor refuses too."""
    with pytest.raises(ValueError):
        keras.losses.MeanSquaredError(reduction="sum_over_batch")
    with pytest.raises(TypeError):
        keras.metrics.MeanIoU()


# -- diff -----------------------------------------------------------------------------------------


def test_diff_shows_changed_loss_and_metric_arguments(tmp_path):
    new = tmp_path / "new.yaml"
    new.write_text(TWO_HEADS.read_text().replace("label_smoothing: 0.1", "label_smoothing: 0.2")
                   .replace("gamma: 3.0, alpha: 0.5", "gamma: 3.0, alpha: 0.7").replace("k: 2}", "k: 3}"))
    result = CliRunner().invoke(app, ["diff", "--no-build", str(TWO_HEADS), str(new)])
    assert result.exit_code == 1, result.output
    assert textwrap.dedent("""\
        compile:
          ~ loss.digit.label_smoothing: 0.1 -> 0.2
          ~ loss.box.alpha: 0.5 -> 0.7
          ~ metrics.digit[0].k: 2 -> 3
        """) in result.output


def test_diff_shows_arguments_given_to_a_loss_named_before(tmp_path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(ONE_OUTPUT + "compile:\n  optimizer: adam\n  loss: sparse_categorical_crossentropy\n")
    new.write_text(ONE_OUTPUT + "compile:\n  optimizer: adam\n"
                   "  loss: {name: sparse_categorical_crossentropy, from_logits: true}\n")
    result = CliRunner().invoke(app, ["diff", "--no-build", str(old), str(new)])
    assert result.exit_code == 1, result.output
    assert "compile:\n  ~ loss.from_logits: (unset) -> true\n" in result.output


# -- round trip in fresh processes ------------------------------------------------------------------


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """One fresh process saves the archives, another loads them with `import declar` alone (safe_mode on)."""
    out = tmp_path_factory.mktemp("compile_args")
    jobs = [{"name": "two_heads", "spec": str(TWO_HEADS), "resume": True},
            {"name": "mnist_mlp", "spec": str(TRAINING / "mnist_mlp.yaml"), "sparse": True},
            {"name": "ocr_ctc", "spec": str(TRAINING / "ocr_ctc.yaml"), "label_sequences": True}]
    (out / "jobs.json").write_text(json.dumps(jobs))
    run_worker("save", out / "jobs.json", out, "tensorflow")
    run_worker("load", out / "jobs.json", out, "tensorflow")
    return out


def _record(out: Path, name: str, side: str) -> dict:
    return json.loads((out / f"{name}.{side}.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["two_heads", "mnist_mlp", "ocr_ctc"])
def test_compile_arguments_are_restored_in_a_fresh_process(round_trip, name):
    saved, loaded = _record(round_trip, name, "save"), _record(round_trip, name, "load")
    assert loaded["warnings"] == []
    assert saved["facts"]["compile_config"] == loaded["facts"]["compile_config"]
    assert saved["evaluate"] == loaded["evaluate"] and saved["evaluate"]["loss"] > 0
    before, after = np.load(round_trip / f"{name}.pred.npz"), np.load(round_trip / f"{name}.pred_loaded.npz")
    assert all(np.array_equal(before[k], after[k]) for k in before.files)


@pytest.mark.slow
def test_restored_arguments_are_the_specs(round_trip):
    loss = _record(round_trip, "mnist_mlp", "load")["facts"]["compile_config"]["loss"]
    assert loss["class_name"] == "SparseCategoricalCrossentropy" and loss["config"]["from_logits"] is True
    heads = _record(round_trip, "two_heads", "load")["facts"]["compile_config"]
    assert heads["loss"]["box"]["config"]["params"] == {"gamma": 3.0, "alpha": 0.5}
    assert _record(round_trip, "ocr_ctc", "load")["facts"]["compile_config"]["loss"] == "ctc"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["two_heads"])  # ocr_ctc has dropout, whose RNG state Keras does not save
def test_training_resumes_bit_identically_after_load(round_trip, name):
    uninterrupted = np.load(round_trip / f"{name}.resumed.npz")
    resumed = np.load(round_trip / f"{name}.resumed_loaded.npz")
    assert uninterrupted.files == resumed.files
    for key in uninterrupted.files:
        assert np.array_equal(uninterrupted[key], resumed[key]), key


def test_function_param_types_are_the_schemas():
    from declar.spec.model import FUNCTION_PARAM_TYPES
    from declar.spec.schema import schema

    assert tuple(schema()["$defs"]["functionParam"]["properties"]["type"]["enum"]) == FUNCTION_PARAM_TYPES
