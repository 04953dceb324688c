"""Facts decided once: is a path an archive, the per-layer rows of a built model, and the
import order of the API and the diff (no import inside a function dodges a cycle between them)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import declar
from declar.archive import is_archive
from declar.cli import app
from declar.compare import build_summary
from declar.plot import to_dot
from declar.summary import layer_rows

ROOT = Path(__file__).resolve().parent.parent
TWO_OUTPUTS = ("declar: 1\nname: m\ninputs: {x: {shape: [5, 3]}}\nmodel:\n"
               "  - LSTM: {units: 2, return_state: true}\n")


@pytest.mark.parametrize(("source", "expected"), [
    ("m.keras", True), (Path("dir/m.keras"), True), ("m.yaml", False), ("m.keras.yaml", False),
    ("declar: 1\nname: m.keras", False), (None, False)])
def test_is_archive_decides_by_the_name(source, expected):
    assert is_archive(source) is expected


def test_build_diff_and_plot_show_the_same_rows(tmp_path):
    spec = ROOT / "specs" / "keras_guide" / "custom_build.yaml"
    model = declar.build(spec)
    rows = layer_rows(model)
    assert [(r.name, r.params, r.output_shape) for r in rows] == [
        ("layer_with_custom_build", 144, "(None, 16)"), ("dense", 17, "(None, 1)")]
    printed = json.loads(CliRunner().invoke(app, ["build", str(spec), "--format", "json"]).output)["layers"]
    assert [(r["name"], r["params"], r["output_shape"]) for r in printed] == [
        (r.name, r.params, r.output_shape) for r in rows]
    assert build_summary(model)[0] == {r.name: (r.params, r.output_shape) for r in rows}
    dot = to_dot(declar.load_spec(spec).spec, model)
    assert all(f"output {r.output_shape}\\n{r.params:,} params" in dot for r in rows)


def test_plot_labels_a_layer_with_several_outputs():
    model = declar.build(TWO_OUTPUTS)
    dot = to_dot(declar.load_spec(TWO_OUTPUTS).spec, model)
    assert "output [(None, 2), (None, 2), (None, 2)]\\n48 params" in dot


@pytest.mark.parametrize(("module", "other"), [("api", "compare"), ("compare", "api")])
def test_api_and_compare_import_each_other_only_at_the_top(module, other):
    tree = ast.parse((ROOT / "declar" / f"{module}.py").read_text())
    inside = [node for function in ast.walk(tree) if isinstance(function, ast.FunctionDef)
              for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))]
    imported = {name for node in inside
                for name in ([node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names])}
    assert not imported & {f"declar.{other}", "declar"}, imported
