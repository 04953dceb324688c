"""The `declar` command as a user runs it: exit codes, output forms, no tracebacks, README examples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from declar.cli import app

ROOT = Path(__file__).resolve().parent.parent
TYPO = ROOT / "tests" / "data" / "typo.yaml"
GUIDE = ROOT / "specs" / "keras_guide"
runner = CliRunner()


def run(*args: str, cwd: Path | None = None):
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        return runner.invoke(app, list(args))
    finally:
        os.chdir(old)


def readme_block(after: str) -> list[str]:
    """Lines of the README code block that starts with the line ``after``."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(after) + 1
    end = lines.index("```", start)
    return lines[start:end]


class TestValidate:
    def test_valid_specs_exit_zero(self):
        result = run("validate", *map(str, sorted(ROOT.glob("specs/**/*.yaml"))))
        assert result.exit_code == 0, result.output
        assert "valid" in result.output

    def test_readme_example_output_is_what_declar_prints(self):
        result = run("validate", "tests/data/typo.yaml", cwd=ROOT)
        assert result.exit_code == 1
        assert result.output.splitlines() == readme_block("$ declar validate tests/data/typo.yaml")

    def test_every_problem_line_is_file_line_col_error(self):
        result = run("validate", str(TYPO))
        problems = [line for line in result.output.splitlines() if "error:" in line]
        assert len(problems) == 6
        assert all(re.match(rf"{re.escape(str(TYPO))}:\d+:\d+: error: ", line) for line in problems)
        assert "Traceback" not in result.output

    def test_json_format_carries_locations_as_data(self):
        result = run("validate", "--format", "json", str(TYPO))
        assert result.exit_code == 1
        data = json.loads(result.output.split("\n6 problems")[0])
        first = data[0]
        assert (first["line"], first["col"], first["path"], first["code"]) == (3, 1, "$.seeed", "unknown-key")
        assert first["hint"] == "did you mean 'seed'?"

    def test_missing_file_is_a_located_error_not_a_traceback(self, tmp_path):
        result = run("validate", str(tmp_path / "nope.yaml"))
        assert result.exit_code == 1
        assert "cannot read the spec" in result.output and "Traceback" not in result.output

    def test_usage_error_exits_two(self):
        assert run("validate").exit_code == 2
        assert run("validate", "--format", "xml", str(TYPO)).exit_code == 2

    def test_validate_never_imports_keras_or_tensorflow(self):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "declar.cli", "validate", str(TYPO)],
                              capture_output=True, text=True)
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
        assert "declar.spec.load" in imported  # the probe does see declar's own imports
        heavy = {m for m in imported if m.split(".")[0] in ("keras", "tensorflow", "jax", "torch")}
        assert not heavy


class TestOtherCommands:
    def test_version(self):
        from declar import __version__

        result = run("--version")
        assert result.exit_code == 0 and result.output.strip() == f"declar {__version__}"

    def test_schema_prints_the_json_schema(self):
        result = run("schema")
        assert json.loads(result.output)["$schema"].endswith("2020-12/schema")

    def test_ops_lists_the_function_table(self):
        result = run("ops", "--format", "json")
        names = {entry["name"] for entry in json.loads(result.output)}
        assert {"base", "matmul", "squared_difference", "mean"} <= names

    def test_readme_function_table_is_generated_from_the_code(self):
        from devtools.docs import ops_table

        text = (ROOT / "README.md").read_text()
        block = text.split("<!-- ops:start -->\n", 1)[1].split("<!-- ops:end -->", 1)[0]
        assert block.strip() == ops_table().strip(), "run `python -m devtools.generate`"

    def test_readme_limits_table_lists_every_limit_with_its_default(self):
        import dataclasses

        from declar.limits import Limits
        from devtools.docs import limits_table

        text = (ROOT / "README.md").read_text()
        block = text.split("<!-- limits:start -->\n", 1)[1].split("<!-- limits:end -->", 1)[0]
        assert block == limits_table(), "run `python -m devtools.generate`"
        for field in dataclasses.fields(Limits):
            assert f"| `{field.name}` | {field.default:,} | " in block


class TestBuildSaveInspect:
    def test_build_prints_layers_shapes_and_parameters(self):
        result = run("build", str(GUIDE / "custom_build.yaml"))
        assert result.exit_code == 0, result.output
        assert "layer_with_custom_build  LayerWithCustomBuild  (None, 16)    144" in result.output
        assert "output shape (None, 1), 161 parameters" in result.output

    def test_keras_refusing_an_argument_is_reported_at_the_layer_line(self, tmp_path):
        # Valid as a spec, refused by Keras at build: a 2-D convolution on a vector.
        spec = tmp_path / "bad_shape.yaml"
        spec.write_text("declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\nmodel:\n"
                        "  - Dense: {units: 2}\n  - Conv2D: {filters: 2, kernel_size: 3}\n")
        assert run("validate", str(spec)).exit_code == 0
        result = run("build", str(spec))
        assert result.exit_code == 1
        assert result.output.startswith(f"{spec}:7:5: error: ValueError: ")
        assert "Traceback" not in result.output

    def test_build_of_an_invalid_spec_lists_every_problem(self):
        result = run("build", str(TYPO))
        assert result.exit_code == 1
        assert len([line for line in result.output.splitlines() if ": error: " in line]) == 6

    def test_save_then_inspect_shows_the_embedded_spec(self, tmp_path):
        out = tmp_path / "m.keras"
        assert run("save", str(GUIDE / "custom_compile.yaml"), str(out)).exit_code == 0
        info = json.loads(run("inspect", "--format", "json", str(out)).output)
        assert info["name"] == "custom_compile_model" and info["compiled"] is True
        assert info["source"] == (GUIDE / "custom_compile.yaml").read_text()
        assert len(info["sha256"]) == 64
        assert any(v["path"].startswith("optimizer/") for v in info["variables"])

    def test_save_refuses_a_non_keras_name_and_leaves_nothing(self, tmp_path):
        result = run("save", str(GUIDE / "custom_build.yaml"), str(tmp_path / "m.zip"))
        assert result.exit_code == 1 and "must end in .keras" in result.output
        assert list(tmp_path.iterdir()) == []

    def test_inspect_refuses_a_file_that_is_not_an_archive(self, tmp_path):
        junk = tmp_path / "junk.keras"
        junk.write_bytes(b"not a zip")
        result = run("inspect", str(junk))
        assert result.exit_code == 1 and "not a readable .keras archive" in result.output

    def test_archive_holds_the_spec_hash_and_versions_in_its_config(self, tmp_path):
        out = tmp_path / "m.keras"
        run("save", str(GUIDE / "custom_assets.yaml"), str(out))
        with zipfile.ZipFile(out) as z:
            config = json.loads(z.read("config.json"))
            names = z.namelist()
        assert config["registered_name"] == "declar>DeclarModel"
        assert set(config["config"]) == {"spec", "source", "sha256", "declar_version", "trainable"}
        assert any(n.endswith("declar_assets.json") for n in names)
        assert any(n.endswith("vocab.txt") for n in names)


class TestFit:
    @pytest.fixture
    def data(self, tmp_path):
        rng = np.random.default_rng(0)
        path = tmp_path / "data.npz"
        np.savez(path, x=rng.random((32, 8)).astype("float32"),
                 dense_1=np.eye(4, dtype="float32")[rng.integers(0, 4, 32)])
        return path

    def test_fit_a_spec_then_resume_the_archive(self, tmp_path, data):
        first, second = tmp_path / "a.keras", tmp_path / "b.keras"
        spec = str(GUIDE / "custom_compile.yaml")
        result = run("fit", spec, "--data", str(data), "--out", str(first), "--epochs", "2", "--batch-size", "8")
        assert result.exit_code == 0, result.output
        result = run("fit", str(first), "--data", str(data), "--out", str(second), "--validation-split", "0.25")
        assert result.exit_code == 0, result.output
        import declar

        assert int(declar.load(first).optimizer.iterations.numpy()) == 8
        assert int(declar.load(second).optimizer.iterations.numpy()) == 8 + 1  # 24 samples, one batch of 32

    def test_wrongly_named_arrays_list_the_expected_names(self, tmp_path):
        bad = tmp_path / "bad.npz"
        np.savez(bad, inputs=np.ones((4, 8)))
        result = run("fit", str(GUIDE / "custom_compile.yaml"), "--data", str(bad), "--out", str(tmp_path / "m.keras"))
        assert result.exit_code == 1
        assert "missing arrays ['x', 'dense_1']; expected inputs ['x'] and outputs ['dense_1']" in result.output
        assert not (tmp_path / "m.keras").exists()

    def test_fit_refuses_a_spec_without_compile_settings(self, tmp_path, data):
        result = run("fit", str(GUIDE / "custom_build.yaml"), "--data", str(data), "--out", str(tmp_path / "m.keras"))
        assert result.exit_code == 1 and "no compile settings" in result.output
