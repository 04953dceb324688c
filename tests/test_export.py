"""`declar export`: every spec to every format, checked in the format's own runtime, or refused at file:line:col.

The matrix is batched: one fresh process per format exports every spec (tests/export_worker.py,
unverified, recording Keras's predictions on the seeded feeds), then one run of the runtime
worker per format loads every artifact in its runtime (TensorFlow's SavedModel loader, ONNX
Runtime, the LiteRT interpreter) and the test compares. The default run takes a representative
subset; the whole of specs/ is marked very_slow. The command itself (its fresh-process check,
its output, the file of versions, the atomic write) is run end to end on a small spec.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.exporting import FORMATS
from declar.exporting.check import compare, run_worker, runtime_outputs

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "export_worker.py"
ALL_SPECS = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("specs/**/*.yaml"), *ROOT.glob("examples/**/*.yaml")])
FAST_SPECS = ["specs/keras_guide/custom_build.yaml", "specs/examples/two_input_residual.yaml",
              "specs/keras_io/vae_encoder.yaml", "specs/architectures/bidirectional_lstm.yaml"]
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}

_RANDOM = ("layer type Sampling draws random numbers at inference (random_normal): the exported {title} artifact "
           "cannot reproduce the model's predictions (an exported model must compute what Keras computes for the "
           "same inputs; a draw at inference cannot)")
_ERFC = ("layer {node} (Dense): tf2onnx has no ONNX operator for TensorFlow's Erfc (the layer computes an op ONNX "
         "cannot express)")
_LITERT = ("layer {node}: the LiteRT converter cannot lower TensorFlow's {op} to LiteRT's builtin operators (LiteRT "
           "runs its builtin operators only, without the Flex delegate; with a fixed batch size the converter lowers "
           "it: export with --batch-size 1)")
LOOP = "tf.TensorListReserve"
_LITERT_REFUSED = {  # spec: (line:col, node (layer), op), measured with a dynamic batch
    "specs/architectures/bidirectional_lstm.yaml": [("19:7", "bidirectional_2 (Bidirectional)", LOOP)],
    "specs/architectures/masked_lstm.yaml": [("38:18", "custom_lstm (LSTM)", LOOP)],
    "specs/architectures/seq2seq_lstm.yaml": [("21:7", "decoder_lstm (LSTM)", LOOP)],
    "specs/architectures/timedistributed_video.yaml": [("17:5", "lstm (LSTM)", LOOP)],
    "specs/training/ocr_ctc.yaml": [("29:22", "bidirectional_1 (Bidirectional)", LOOP)],
    "specs/architectures/unet_segmentation.yaml": [("69:19", "up2_residual (Conv2D)", "tf.Conv2D"),
                                                   ("80:19", "up3_residual (Conv2D)", "tf.Conv2D"),
                                                   ("91:19", "up4_residual (Conv2D)", "tf.Conv2D")],
}


def refusals(fmt: str) -> dict[str, list[str]]:
    """What each format refuses, exactly as the problems render (measured on every spec; see the README)."""
    found = {spec: [f"{spec}:{at}: error: {_RANDOM.format(title=FORMATS[fmt].title)}"]
             for spec, at in (("specs/keras_io/vae_encoder.yaml", "19:18"), ("specs/architectures/vae.yaml", "22:18"),
                              ("specs/training/vae_kl.yaml", "22:18"))}
    # preprocessing layers never adapted compute nothing (the archive adapted by declar adapt exports)
    found.update({spec: [f"{spec}:{at}: error: layer {node}: has no vocabulary (it was never adapted), so it computes "
                         f"nothing to export (adapt it on data first (declar adapt SPEC DATA -o OUT.keras, or declar "
                         f"fit) and export the archive, or give its state in the spec)"]
                  for spec, at, node in (("examples/adapted/structured_data.yaml", "20:16",
                                          "cp_lookup (IntegerLookup)"),
                                         ("examples/adapted/text_classification.yaml", "13:5",
                                          "vectorize (TextVectorization)"))})
    if fmt == "onnx":
        spec = "specs/architectures/vit_classifier.yaml"
        found[spec] = [f"{spec}:{at}: error: {_ERFC.format(node=node)}" for at, node in
                       (("53:20", "mlp_dense_1"), ("55:20", "mlp_dense_2"), ("68:19", "head_dense_1"),
                        ("70:19", "head_dense_2"))]
    if fmt == "litert":
        found.update({spec: [f"{spec}:{at}: error: {_LITERT.format(node=node, op=op)}" for at, node, op in where]
                      for spec, where in _LITERT_REFUSED.items()})
    return dict(sorted(found.items()))


def export_matrix(fmt: str, specs: list[str], out: Path, batch_size: int | None = None
                  ) -> tuple[dict[str, list[str]], dict[str, float]]:
    """(refusals by spec, max abs diff by spec): one process exports, one fresh process runs them all."""
    out.mkdir(parents=True, exist_ok=True)
    fixed = ["--batch-size", str(batch_size)] if batch_size else []
    proc = subprocess.run([sys.executable, str(WORKER), fmt, str(out), *fixed, *specs], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    results = json.loads((out / "results.json").read_text())
    exported = [r for r in results if "artifact" in r]
    verdicts = run_worker([{"format": fmt, "artifact": r["artifact"], "feeds": r["feeds"]} for r in exported], out)
    diffs = {}
    for result, verdict in zip(exported, verdicts, strict=True):
        assert verdict["ok"], (result["spec"], verdict)
        assert verdict["declar_imported"] is False  # the artifact runs on its runtime alone
        assert verdict["keras_imported"] is (fmt == "saved_model")  # TensorFlow's loader imports Keras itself
        expected = [keras_predictions(f) for f in result["feeds"]]
        found = compare(FORMATS[fmt], verdict["runtime"], result["inputs"], expected,
                        [runtime_outputs(f) for f in result["feeds"]], tuple(result["batches"]))
        assert found.passed, (result["spec"], found)
        diffs[result["spec"]] = found.max_abs_diff
    report = {r["spec"]: {"seconds": round(r["seconds"], 1), "diff": diffs.get(r["spec"]),
                          "refused": r.get("refused")} for r in results}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))  # the figures the README's table comes from (pytest -s shows them)
    return {r["spec"]: r["refused"] for r in results if "refused" in r}, diffs


def keras_predictions(feed: str) -> list[tuple[str, np.ndarray]]:
    with np.load(feed + ".keras.npz", allow_pickle=False) as data:
        return [(str(n), data[f"output_{i}"]) for i, n in enumerate(data["names"])]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_representative_subset_exports_and_matches_keras_in_the_formats_runtime(fmt, tmp_path):
    refused, diffs = export_matrix(fmt, FAST_SPECS, tmp_path)
    expected = {s: m for s, m in refusals(fmt).items() if s in FAST_SPECS}
    assert refused == expected
    assert sorted(diffs) == sorted(set(FAST_SPECS) - set(expected))
    assert all(d <= FORMATS[fmt].atol * 10 for d in diffs.values())  # well inside atol + rtol * |keras|


# Refused only by the check in the runtime (the converter writes an artifact its runtime cannot run):
# `declar export` refuses them at the layer; the matrix, which exports without the check, leaves them out.
RUNTIME_REFUSED = {"onnx": {"specs/keras_io/structured_data.yaml": "18:21: error: layer age_normalized "
                                                                   "(Normalization): ONNX Runtime could not run"}}


@pytest.mark.very_slow
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_spec_exports_to_every_format_or_is_refused_where_the_format_cannot_express_it(fmt, tmp_path):
    specs = [s for s in ALL_SPECS if s not in RUNTIME_REFUSED.get(fmt, {})]
    refused, diffs = export_matrix(fmt, specs, tmp_path)
    assert refused == refusals(fmt)
    assert sorted(diffs) == sorted(set(specs) - set(refused))
    for spec, where in RUNTIME_REFUSED.get(fmt, {}).items():
        out = tmp_path / f"refused{FORMATS[fmt].suffix}"
        result = CliRunner().invoke(app, ["export", spec, str(out), "--format", fmt])
        assert result.exit_code == 1 and result.output.startswith(f"{spec}:{where}"), result.output
        assert not out.exists()


@pytest.mark.very_slow
def test_what_litert_refuses_with_a_dynamic_batch_exports_with_a_fixed_one_as_the_hint_says(tmp_path):
    refused, diffs = export_matrix("litert", sorted(_LITERT_REFUSED), tmp_path, batch_size=1)
    assert refused == {}
    assert sorted(diffs) == sorted(_LITERT_REFUSED)


# -- the command end to end ---------------------------------------------------------------------

VARYING = [(re.compile(r"\d+\.\d+\.\d+(\.\w+)?"), "<version>"), (re.compile(r"opset \d+"), "opset <n>"),
           (re.compile(r"max abs diff [0-9.e+-]+"), "max abs diff <d>")]


def varying_masked(text: str) -> str:
    for pattern, shown in VARYING:
        text = pattern.sub(shown, text)
    return text


def readme_export_block() -> tuple[str, list[str]]:
    """The README's `declar export` command and the output it shows."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$ declar export "))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
    return lines[start][2:], lines[start + 1:end]


@pytest.mark.slow
def test_cli_export_prints_what_the_readme_shows(tmp_path):
    command, shown = readme_export_block()
    out = tmp_path / "two_input_residual.onnx"
    argv = command.split()[1:]
    argv[argv.index("two_input_residual.onnx")] = str(out)
    proc = subprocess.run([sys.executable, "-m", "declar", *argv], capture_output=True, text=True, env=ENV,
                          cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.replace(str(tmp_path) + "/", "").splitlines()
    assert [varying_masked(line) for line in printed] == [varying_masked(line) for line in shown]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two_input_residual.onnx",
                                                          "two_input_residual.onnx.export.json"]  # no temp left
    meta = json.loads((tmp_path / "two_input_residual.onnx.export.json").read_text())
    assert meta["converter"]["opset"] >= 13 and meta["converter"]["tf2onnx"]
    assert [i["name"] for i in meta["inputs"]] == ["features", "context"]
    assert [i["shape"][0] for i in meta["inputs"]] == [None, None]  # the batch stays dynamic
    assert meta["outputs"] == ["score", "topic"]
    assert meta["verification"]["samples"] == [4, 1] and meta["verification"]["passed"] is True
    assert meta["verification"]["max_abs_diff"] <= 1e-5


@pytest.mark.slow
def test_an_archive_exports_and_a_refusal_leaves_the_previous_artifact_and_no_temporary_files(tmp_path):
    archive, out = tmp_path / "m.keras", tmp_path / "m.savedmodel"
    script = ("import sys, declar\n"
              "declar.save('specs/keras_guide/custom_build.yaml', sys.argv[1])\n"
              "r = declar.export(sys.argv[1], sys.argv[2], format='saved_model')\n"
              "print(r.verification.render())\n")
    proc = subprocess.run([sys.executable, "-c", script, str(archive), str(out)], capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("verified: TensorFlow ") and "on 1 input x 4 and 1 samples" in proc.stdout
    assert (out / "saved_model.pb").is_file()
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    # A spec no format can express: refused before anything is written, the old artifact untouched.
    proc = subprocess.run([sys.executable, "-m", "declar", "export", "specs/keras_io/vae_encoder.yaml", str(out),
                           "--format", "saved_model"], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=900)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1] == refusals("saved_model")["specs/keras_io/vae_encoder.yaml"][0]
    assert "Traceback" not in proc.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.savedmodel", "m.savedmodel.export.json"]
    # --no-verify with a fixed batch: written as asked, and the record says it was not checked.
    fixed = tmp_path / "fixed.tflite"
    proc = subprocess.run([sys.executable, "-m", "declar", "export", str(archive), str(fixed), "--format", "litert",
                           "--no-verify", "--batch-size", "2"], capture_output=True, text=True, env=ENV, cwd=ROOT,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == ["not verified (--no-verify)", f"wrote {fixed}.export.json"]
    meta = json.loads(Path(f"{fixed}.export.json").read_text())
    assert (meta["verification"], meta["inputs"][0]["shape"], meta["source"]) == (None, [2, 8], str(archive))


@pytest.mark.slow
def test_a_runtime_that_disagrees_with_keras_refuses_the_artifact_located_at_the_output(tmp_path):
    # Tolerances of zero: ONNX Runtime's reordered float32 sums differ from Keras's in the last bits;
    # the problem is placed at the node of the output that differs (the spec's last, Dense, at 23:5).
    out = tmp_path / "m.onnx"
    script = ("import dataclasses, sys, declar\n"
              "from declar.exporting import formats\n"
              "formats.FORMATS['onnx'] = dataclasses.replace(formats.FORMATS['onnx'], atol=0.0, rtol=0.0)\n"
              "try:\n"
              "    declar.export('specs/keras_guide/custom_build.yaml', sys.argv[1], format='onnx')\n"
              "except declar.ExportError as err:\n"
              "    print(err.code, err.problems[0].code, err.problems[0].render())\n")
    proc = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, env=ENV,
                          cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert re.fullmatch(r"export export-mismatch specs/keras_guide/custom_build\.yaml:23:5: error: ONNX Runtime "
                        r"computes "
                        r"other predictions than Keras: max abs diff [0-9.e-]+ at output 'dense', over 0 \(atol\) \+ "
                        r"0 \(rtol\) x \|keras\|; .*m\.onnx was not written \(the format's arithmetic differs from "
                        r"Keras's here\)", line), line
    assert list(tmp_path.iterdir()) == []


# -- a missing extra --------------------------------------------------------------------------

def hide(monkeypatch, *modules: str) -> None:
    """Make ``modules`` look uninstalled to the check of each format's packages."""
    real = importlib.machinery.PathFinder.find_spec

    def find_spec(name, path=None, target=None):
        return None if name in modules else real(name, path, target)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", find_spec)


def test_a_missing_extra_is_named_in_one_line_through_the_cli_and_the_api(monkeypatch, tmp_path):
    hide(monkeypatch, "onnxruntime", "tf2onnx")
    out = tmp_path / "m.onnx"
    result = CliRunner().invoke(app, ["export", "specs/keras_guide/custom_build.yaml", str(out), "--format", "onnx"])
    assert result.exit_code == 1
    assert result.output == ("error: exporting to ONNX needs tf2onnx and onnxruntime, which are not installed: "
                             "pip install 'declar[onnx]'\n")
    hide(monkeypatch, "ai_edge_litert")
    with pytest.raises(declar.ExportError) as raised:
        declar.export("specs/keras_guide/custom_build.yaml", tmp_path / "m.tflite", format="litert")
    assert raised.value.code == "missing-extra"
    assert str(raised.value) == ("exporting to LiteRT needs ai-edge-litert, which is not installed: "
                                 "pip install 'declar[litert]'")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_format_is_a_usage_error_naming_the_formats():
    result = CliRunner().invoke(app, ["export", "specs/keras_guide/custom_build.yaml", "m.x", "--format", "coreml"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "'coreml' is not one of 'saved_model', 'onnx', 'litert'" in result.output
    with pytest.raises(declar.ExportError, match="unknown export format 'coreml'; the formats: saved_model, onnx, "
                                                 "litert"):
        declar.export("specs/keras_guide/custom_build.yaml", "m.x", format="coreml")


def test_a_preprocessing_layer_never_adapted_is_refused_at_its_node_and_nothing_is_written(tmp_path):
    out = tmp_path / "heart.onnx"
    result = CliRunner().invoke(app, ["export", "examples/adapted/structured_data.yaml", str(out), "--format", "onnx"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output == refusals("onnx")["examples/adapted/structured_data.yaml"][0] + "\n"
    assert list(tmp_path.iterdir()) == []


STRING_SPEC = """declar: 2
name: strings
inputs:
  words: {shape: [3], dtype: string}
model:
  - StringLookup: {vocabulary: [a, b, c], output_mode: int}
  - Embedding: {input_dim: 5, output_dim: 2}
  - Flatten: {}
"""


@pytest.mark.slow
def test_a_string_lookup_is_refused_by_onnx_at_the_layer_and_exported_to_litert_and_saved_model(tmp_path):
    spec = tmp_path / "strings.yaml"
    spec.write_text(STRING_SPEC)
    # The check feeds words of the lookup's vocabulary and one outside it (declar.verify.probe_inputs).
    onnx = subprocess.run([sys.executable, "-m", "declar", "export", str(spec), str(tmp_path / "s.onnx"), "--format",
                           "onnx"], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=900)
    assert onnx.returncode == 1
    assert onnx.stderr.strip().splitlines()[-1] == (
        f"{spec}:6:5: error: layer string_lookup (StringLookup): tf2onnx has no ONNX operator for TensorFlow's "
        "LookupTableFindV2 (the layer computes an op ONNX cannot express)")
    for fmt, name, runtime in (("litert", "s.tflite", "ai-edge-litert "), ("saved_model", "s.sm", "TensorFlow ")):
        done = subprocess.run([sys.executable, "-m", "declar", "export", str(spec), str(tmp_path / name), "--format",
                               fmt], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=900)
        assert done.returncode == 0, done.stderr
        assert f"verified: {runtime}" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sm", "s.sm.export.json", "s.tflite",
                                                          "s.tflite.export.json", "strings.yaml"]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="the JAX backend is not installed")
def test_another_backend_is_refused_in_one_line_naming_the_one_to_use(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "declar", "export", "specs/keras_guide/custom_build.yaml",
                           str(tmp_path / "m.onnx"), "--format", "onnx"], capture_output=True, text=True,
                          env={**ENV, "KERAS_BACKEND": "jax"}, cwd=ROOT, timeout=900)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: declar export uses Keras's TensorFlow route for every format; this process runs the jax backend: "
        "run it with KERAS_BACKEND=tensorflow")
    assert list(tmp_path.iterdir()) == []
