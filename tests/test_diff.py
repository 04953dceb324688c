"""`declar diff`: what changed between two versions of a spec or archive, and its exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import declar
from declar.api import diff
from declar.cli import app
from declar.compare import diff_specs
from declar.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "specs" / "examples" / "versions"
V1, V2 = VERSIONS / "classifier_v1.yaml", VERSIONS / "classifier_v2.yaml"
TYPO = ROOT / "tests" / "data" / "typo.yaml"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def spec(text: str):
    return load_spec("declar: 1\nname: m\ninputs: {x: {shape: [3]}}\n" + text).spec


@pytest.fixture(scope="module")
def v1_archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("diff") / "v1.keras"
    declar.save(str(V1), out)
    return out


class TestSemantics:
    def test_the_example_versions(self):
        d = diff(V1, V2, build=False)
        nodes = {(i.kind, i.name): i for i in d.nodes}
        assert nodes["renamed", "bottleneck"].old_name == "hidden"
        assert not nodes["renamed", "bottleneck"].changes
        assert nodes["added", "norm"].detail == "LayerNormalization"
        assert [c.render() for c in nodes["changed", "head"].changes] == ["units: 4 -> 6"]
        assert [c.render() for c in nodes["changed", "dropout"].changes] == ["inputs: hidden -> norm"]
        assert ("changed", "encoder") not in nodes
        assert [(i.kind, i.name, [c.render() for c in i.changes]) for i in d.layer_types] == [
            ("changed", "ScaledDense", ["params.scale.default: 1.0 -> 0.5"])]
        # `adam` and {name: adam, learning_rate: ...} differ only by the learning rate
        assert [c.render() for c in d.compile] == ["optimizer.learning_rate: (unset) -> 0.0005",
                                                   "metrics: [accuracy] -> [accuracy, auc]"]
        assert d.inputs == [] and d.settings == [] and d.outputs == [] and not d.equal

    def test_same_spec_written_differently_is_equal(self, tmp_path):
        text = V1.read_text()
        moved = text.replace("seed: 7\n", "").replace("name: classifier\n", "name: classifier\nseed: 7  # moved\n")
        moved = re.sub(r"^#.*\n", "", moved, flags=re.M).replace("{units: 16, activation: relu}",
                                                                 "{activation: relu, units: 16}")
        other = tmp_path / "same.yaml"
        other.write_text(moved)
        assert moved != text
        assert diff(V1, other, build=False).equal

    def test_inputs_outputs_settings_and_custom_types(self):
        old = spec("layers:\n  T: {extends: Dense}\nmodel: {nodes: {a: {layer: Dense, args: {units: 2}, inputs: x}},"
                   " outputs: a}\n")
        new = load_spec("declar: 1\nname: m2\nseed: 3\ninputs: {x: {shape: [4]}, y: {shape: [2]}}\n"
                        "layers:\n  U: {extends: Dense}\n"
                        "model: {nodes: {a: {layer: Dense, args: {units: 2}, inputs: x},"
                        " b: {layer: Dense, args: {units: 1}, inputs: y}}, outputs: {first: a, second: b}}\n").spec
        d = diff_specs(old, new)
        assert [c.render() for c in d.settings] == ["name: m -> m2", "seed: (unset) -> 3"]
        assert [i.render() for i in d.inputs] == ["~ x: shape: [3] -> [4]", "+ y: {shape: [2]}"]
        assert [(i.kind, i.name) for i in d.layer_types] == [("removed", "T"), ("added", "U")]
        assert [(i.kind, i.name) for i in d.nodes] == [("added", "b")]
        assert [c.render() for c in d.outputs] == ["outputs: a -> {first: a, second: b}"]

    def test_graph_rename_keeps_references_quiet(self):
        old = spec("model: {nodes: {a: {layer: Dense, args: {units: 2}, inputs: x},"
                   " b: {layer: Dense, args: {units: 1}, inputs: a}}, outputs: b}\n")
        new = spec("model: {nodes: {first: {layer: Dense, args: {units: 2}, inputs: x},"
                   " b: {layer: Dense, args: {units: 1}, inputs: first}}, outputs: b}\n")
        d = diff_specs(old, new)
        assert [i.render() for i in d.nodes] == ["> a -> first (Dense)"]

    def test_sequential_insertion_is_aligned_not_a_cascade_of_changes(self):
        old = spec("model:\n  - Dense: {units: 8}\n  - Dense: {units: 4}\n")
        new = spec("model:\n  - Dense: {units: 8}\n  - Dense: {units: 16}\n  - Dense: {units: 4}\n")
        d = diff_specs(old, new)
        # Keras names the third Dense dense_2: the old dense_1 lives on under a new name
        assert [i.render() for i in d.nodes] == ["+ dense_1 (Dense): {args: {units: 16}}",
                                                 "> dense_1 -> dense_2 (Dense)"]

    def test_sequential_argument_change(self):
        d = diff_specs(spec("model: [{Dense: {units: 8}}, {Dense: {units: 4, activation: relu}}]\n"),
                       spec("model: [{Dense: {units: 8}}, {Dense: {units: 6}}]\n"))
        assert [i.render() for i in d.nodes] == ["~ dense_1 (Dense): units: 4 -> 6; activation: relu -> (unset)"]

    def test_functions_are_compared(self):
        base = "model: [{Dense: {units: 1}}]\ncompile: {optimizer: sgd, loss: l}\n"
        old = spec(base + "functions: {l: {args: [y_true, y_pred], expr: 'mean(y_pred - y_true)'}}\n")
        new = spec(base + "functions: {l: {args: [y_true, y_pred], expr: 'mean(square(y_pred - y_true))'}}\n")
        assert [i.render() for i in diff_specs(old, new).functions] == [
            "~ l: expr: mean(y_pred - y_true) -> mean(square(y_pred - y_true))"]


class TestBuild:
    def test_parameter_counts_and_shapes_per_node_and_in_total(self):
        b = diff(V1, V2, build=True).build
        assert b is not None
        assert (b.old_params, b.new_params, b.old_output, b.new_output) == (332, 366, "(None, 4)", "(None, 6)")
        assert [n.render() for n in b.nodes] == ["norm: added, 16 params, output (None, 8)",
                                                 "head: params 36 -> 54, output (None, 4) -> (None, 6)"]

    def test_archive_against_its_own_spec_is_equal(self, v1_archive):
        assert diff(v1_archive, V1).equal


class TestCli:
    def test_different_exits_one_with_text(self):
        result = run("diff", V1, V2, "--no-build")
        assert result.exit_code == 1
        assert "> hidden -> bottleneck (Dense)" in result.output
        assert "~ head (Dense): units: 4 -> 6" in result.output
        assert "parameters:" not in result.output

    def test_equal_exits_zero(self, v1_archive):
        result = run("diff", v1_archive, V1, "--no-build")
        assert result.exit_code == 0, result.output
        assert "no semantic differences" in result.output

    def test_json(self):
        result = run("diff", V1, V2, "--format", "json")
        assert result.exit_code == 1
        data = json.loads(result.output)
        assert data["equal"] is False
        assert {"kind": "renamed", "name": "bottleneck", "old_name": "hidden"}.items() <= data["nodes"][0].items()
        assert data["build"]["new_params"] == 366
        assert data["compile"][0] == {"key": "optimizer.learning_rate", "old": None, "new": 0.0005}

    def test_markdown_for_a_pull_request(self, v1_archive):
        result = run("diff", v1_archive, V2, "--format", "markdown")
        assert result.exit_code == 1
        assert result.output.startswith(f"### declar diff: `{v1_archive}` → `{V2}`")
        assert "| ✏️ changed | `head` (Dense) | `units`: `4` → `6` |" in result.output
        assert "| **total** | 332 → 366 (+34) | `(None, 4)` → `(None, 6)` |" in result.output

    def test_invalid_spec_exits_three_with_located_problems(self):
        result = run("diff", TYPO, V1)
        assert result.exit_code == 3
        problems = [line for line in result.output.splitlines() if "error:" in line]
        assert len(problems) == 6
        assert all(re.match(rf"{re.escape(str(TYPO))}:\d+:\d+: error: ", line) for line in problems)
        assert "Traceback" not in result.output

    def test_unreadable_archive_exits_three(self, tmp_path):
        bad = tmp_path / "bad.keras"
        bad.write_text("not a zip")
        result = run("diff", bad, V1, "--no-build")
        assert result.exit_code == 3
        assert "not a readable .keras archive" in result.output

    def test_usage_errors_exit_two(self):
        assert run("diff", V1).exit_code == 2
        assert run("diff", V1, V2, "--format", "html").exit_code == 2

    def test_no_build_never_imports_keras(self):
        """Only a fresh process can show what a command imports (as for `declar validate`)."""
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "declar.cli", "diff", "--no-build",
                               str(V1), str(V2)], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 1, proc.stderr[-2000:]
        imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "keras" not in imported and "tensorflow" not in imported
