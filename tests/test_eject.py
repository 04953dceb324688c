"""`declar eject`: the ejected module, run in a fresh process without declar, builds the same model.

Every spec under specs/ is ejected (or refused, at its place in the spec, for the constructs named
in REFUSED); the modules run in one fresh process (tests/eject_worker.py, which never imports
declar) and their models' weights, weight paths, parameter counts and predictions are compared
bit for bit with `declar.build` of the same spec. The same process saves each model with plain
Keras and loads it back through the module's registered classes.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.eject import EjectError, eject
from declar.eject.expr import source
from declar.expr.ops import OPS
from declar.expr.parse import Context, check
from declar.verify import probe_inputs
from tests.eject_worker import targets

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "eject_worker.py"
# Specs that take text: Keras's `predict` refuses string (object) arrays, on the declar side as on the
# ejected side, so their predictions cannot be compared this way yet (their ejection is still tested).
TEXT_INPUTS = {"examples/adapted/text_classification.yaml"}
SPECS = sorted(str(p.relative_to(ROOT)) for folder in ("specs", "examples") for p in (ROOT / folder).rglob("*.yaml"))

# What cannot be ejected yet, each at its place in its spec: no spec under specs/.
REFUSED: dict[str, str] = {}
# Trained in both processes (a fresh model each): a custom type's updates, a block's losses, spec
# functions as loss and metric, and two outputs with loss weights and a learning-rate schedule.
FIT = {"specs/training/moving_mean.yaml", "specs/training/vae_kl.yaml", "specs/keras_guide/custom_compile.yaml",
       "specs/examples/two_input_residual.yaml"}
WRAPPER = ROOT / "tests" / "data" / "eject_wrapper.yaml"  # a type extending Bidirectional: refused
POLICY = ROOT / "tests" / "data" / "eject_policy.yaml"  # mixed_float16 on every layer, a custom type's too

# Names that are Python keywords or the module's own names, and free text that would end a
# string or a docstring, or run, if it were pasted into code.
PWNED = "__import__('os').system('echo pwned')"
HOSTILE = f"""\
declar: 2
name: hostile
description: "ends \\"\\"\\" here\\nimport os; os.system('echo pwned')\\n\\\\ '''"
seed: 4
inputs:
  keras: {{shape: [3]}}
layers:
  Scaled:
    extends: Dense
    params:
      factor: {{type: number, default: 2.0}}
      note: {{type: string, default: "\\"\\"\\"\\n{PWNED}\\n"}}
    assets:
      text: {{kind: text, param: note}}
    call: "base(inputs) * factor"
model:
  nodes:
    "class": {{Dense: {{units: 4}}, inputs: keras}}
    "np": {{Dense: {{units: 4}}, inputs: class}}
    "random": {{op: "keras[:, 0:1] * 2.0 + cast(np, \\"float32\\")"}}
    "build_model": {{Scaled: {{units: 2, factor: 0.5, note: "');{PWNED};('"}}, inputs: random}}
    "SEED": {{Dense: {{units: 2}}, inputs: build_model}}
  outputs: SEED
"""
ALLOWED_IMPORTS = {"json", "os", "math", "random", "hashlib", "keras", "numpy", "keras.src.backend"}


def _outputs(value):
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _run_worker(jobs: list[dict], tmp: Path) -> None:
    (tmp / "jobs.json").write_text(json.dumps(jobs))
    # No PYTHONPATH and a directory outside the repository: declar cannot be imported there.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run([sys.executable, str(WORKER), str(tmp / "jobs.json")], capture_output=True, text=True,
                          env=env, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"ok {len(jobs)}" in proc.stdout


ADAPTABLE = ("Normalization", "TextVectorization", "StringLookup", "IntegerLookup", "Discretization")


def adapted_on_inputs(model) -> dict[str, int]:
    """The preprocessing layers of ``model`` that read a model input and learn their state from data,
    by name -> the input's index."""
    inputs = [id(t) for t in model.inputs]
    found = {}
    for layer in model.layers:
        if type(layer).__name__ not in ADAPTABLE:
            continue
        config = layer.get_config()
        if not any(config.get(k) is not None for k in ("mean", "vocabulary", "bin_boundaries")):  # given: kept
            tensor = layer._inbound_nodes[0].input_tensors[0]
            if id(tensor) in inputs:
                found[layer.name] = inputs.index(id(tensor))
    return found


@pytest.fixture(scope="module")
def hostile_spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "hostile.yaml"
    path.write_text(HOSTILE)
    return path


@pytest.mark.slow
def test_every_spec_ejects_bit_identically(tmp_path, hostile_spec):
    refused: dict[str, str] = {}
    jobs, expected, trained = [], {}, {}
    os.chdir(ROOT)  # the refusals are located relative to the repository, as the CLI prints them
    for n, spec in enumerate([*SPECS, str(hostile_spec), str(POLICY)]):
        try:
            text = eject(spec)
        except EjectError as err:
            refused[spec] = str(err).split(" (")[0]
            continue
        if spec in TEXT_INPUTS:
            compile(text, spec, "exec")  # ejected, and valid Python
            continue
        module = tmp_path / f"m{n}.py"
        module.write_text(text)
        model = declar.build(spec)
        xs = probe_inputs(model)
        # Preprocessing layers learn their state from data (adapt) on both sides, from the same inputs.
        adapt = adapted_on_inputs(model)
        for name, i in adapt.items():
            model.get_layer(name).adapt(xs[i])
        np.savez(tmp_path / f"in{n}.npz", **{f"x{i}": x for i, x in enumerate(xs)})
        expected[n] = (spec, model, _outputs(model.predict(xs if len(xs) > 1 else xs[0], verbose=0)))
        jobs.append({"module": str(module), "inputs": str(tmp_path / f"in{n}.npz"), "out": str(tmp_path / f"o{n}.npz"),
                     "archive": str(tmp_path / f"a{n}.keras"), "fit": spec in FIT, "adapt": adapt})
        if spec in FIT:
            fresh = declar.build(spec)
            history = fresh.fit(xs if len(xs) > 1 else xs[0], targets(fresh, xs), batch_size=1, epochs=1,
                                shuffle=False, verbose=0)
            trained[n] = ([np.asarray(w.numpy()) for w in fresh.weights], history.history["loss"])
    assert refused == REFUSED
    assert len(jobs) == len(SPECS) - len(REFUSED) - len(TEXT_INPUTS) + 2
    _run_worker(jobs, tmp_path)
    for n, (spec, model, predicted) in expected.items():
        got = np.load(tmp_path / f"o{n}.npz")
        assert list(got["paths"]) == [w.path for w in model.weights], spec
        for i, weight in enumerate(model.weights):
            assert np.array_equal(got[f"w{i}"], np.asarray(weight.numpy()), equal_nan=True), (spec, weight.path)
        assert int(got["params"]) == model.count_params() == int(got["reloaded_params"]), spec
        assert bool(got["compiled"]) == bool(model.compiled), spec
        for i, p in enumerate(predicted):
            assert np.array_equal(got[f"p{i}"], p), (spec, i)
            # plain Keras reloads it (safe mode, the module's classes) and predicts as the saved model does
            assert np.array_equal(got[f"r{i}"], got[f"q{i}"]), (spec, i)
        assert str(got["reloaded_class"]) == "Functional", spec
    assert len(trained) == len(FIT)
    for n, (weights, losses) in trained.items():
        got = np.load(tmp_path / f"o{n}.npz")
        assert np.array_equal(got["fit_loss"], losses), expected[n][0]
        for i, weight in enumerate(weights):
            assert np.array_equal(got[f"f{i}"], weight), (expected[n][0], i)


def test_hostile_text_stays_data(hostile_spec):
    text = eject(str(hostile_spec))
    tree = ast.parse(text)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= ALLOWED_IMPORTS
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not {"__import__", "eval", "exec", "system", "compile"} & (names | attributes)
    constants = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    # the spec's strings are string constants, exactly as written
    assert f"');{PWNED};('" in constants and f'"""\n{PWNED}\n' in constants
    assert "keras.ops.cast(np_2, \"float32\")" in text  # a node named np does not shadow numpy
    body = [n for n in tree.body if isinstance(n, ast.Expr)]
    assert len(body) == 1  # the docstring, the only expression statement, holds the description as written
    assert "ends \"\"\" here\nimport os; os.system('echo pwned')\n\\ '''" in ast.get_docstring(tree, clean=False)
    # the layer and model names are the spec's, the Python names mapped
    assert 'keras.layers.Dense(units=4, name="class")(keras_2)' in text
    assert 'keras.Model(keras_2, SEED_2, name="hostile")' in text


def test_expression_source_from_the_checked_tree():
    tree = check('where(x > 0, x, -x) ** 2 + cast(x, "int32")', Context(names={"x"}, functions=OPS)).tree
    assert source(tree, {"x": "self.w"}) == \
        "keras.ops.where(self.w > 0, self.w, -self.w) ** 2 + keras.ops.cast(self.w, 'int32')"


@pytest.mark.skipif(shutil.which("ruff", path=os.path.dirname(sys.executable)) is None, reason="ruff not installed")
def test_ejected_modules_are_ruff_clean(tmp_path, hostile_spec):
    for n, spec in enumerate(["specs/architectures/vit_classifier.yaml", "specs/architectures/masked_lstm.yaml",
                              "specs/examples/text_classifier.yaml", str(hostile_spec)]):
        (tmp_path / f"m{n}.py").write_text(eject(str(ROOT / spec) if not spec.startswith("/") else spec))
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable))
    proc = subprocess.run([ruff, "check", "--isolated", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_cli_writes_the_module_atomically(tmp_path):
    out = tmp_path / "model.py"
    out.write_text("# the previous module\n")
    runner = CliRunner()
    spec = WRAPPER
    refused = runner.invoke(app, ["eject", str(spec), "-o", str(out)])
    assert refused.exit_code == 1
    assert refused.output.strip() == f"{spec}:8:5: error: cannot eject custom type 'BothWays' extending " \
        "Bidirectional, a layer of layers (this construct cannot be ejected to Python yet; build the spec with " \
        "declar instead)"
    assert out.read_text() == "# the previous module\n"  # refused: left as it was
    done = runner.invoke(app, ["eject", str(ROOT / "specs/keras_guide/custom_build.yaml"), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"wrote {out}"
    assert "class LayerWithCustomBuild(keras.layers.Layer):" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]  # no temporary file left
