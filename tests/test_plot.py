"""`declar plot`: DOT text from the spec (always tested), images through Graphviz's dot (when installed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from declar.cli import app
from declar.plot import CUSTOM_COLOUR, to_dot
from declar.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
V2 = ROOT / "specs" / "examples" / "versions" / "classifier_v2.yaml"
RESIDUAL = ROOT / "specs" / "examples" / "two_input_residual.yaml"
runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_dot_names_layers_marks_custom_types_shares_and_outputs():
    text = to_dot(load_spec(str(V2)).spec)
    assert text.startswith('digraph "classifier" {')
    assert (f'"encoder" [label="encoder\\nScaledDense (custom, extends Dense)", fillcolor="{CUSTOM_COLOUR}"];'
            in text)
    assert '"bottleneck" [label="bottleneck\\nDense", fillcolor=' in text
    assert '"features" -> "encoder";' in text and '"dropout" -> "head";' in text
    assert 'peripheries=2' in text.split('"head" [')[1].split("\n")[0]  # the output
    residual = to_dot(load_spec(str(RESIDUAL)).spec)
    assert '"block" -> "block_again" [style=dashed' in residual
    assert '"merged" -> "residual" [label="0"];' in residual and '"block" -> "residual" [label="1"];' in residual


def test_dot_file_without_shapes_needs_neither_keras_nor_graphviz(tmp_path):
    out = tmp_path / "model.dot"
    result = run("plot", V2, "-o", out, "--no-shapes")
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}\n"
    assert out.read_text() == to_dot(load_spec(str(V2)).spec)


def test_dot_file_with_shapes_and_parameter_counts(tmp_path):
    out = tmp_path / "model.dot"
    result = run("plot", RESIDUAL, "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "block\\nDense\\noutput (None, 32)\\n1,056 params" in text
    assert "topic\\nDense\\noutput (None, 4)\\n132 params" in text


def test_image_without_graphviz_says_how_to_install_it_and_offers_dot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` on this PATH
    result = run("plot", V2, "-o", tmp_path / "model.png")
    assert result.exit_code == 1
    assert "needs the `dot` program of Graphviz" in result.output
    assert "apt install graphviz" in result.output and "brew install graphviz" in result.output
    assert f"-o {tmp_path / 'model.dot'}" in result.output
    assert not (tmp_path / "model.png").exists()


def test_unknown_format_and_bad_spec_are_errors(tmp_path):
    result = run("plot", V2, "-o", tmp_path / "model.jpg")
    assert result.exit_code == 1 and "cannot tell the format" in result.output
    result = run("plot", ROOT / "tests" / "data" / "typo.yaml", "-o", tmp_path / "m.dot", "--no-shapes")
    assert result.exit_code == 1 and "typo.yaml:3:1: error:" in result.output
    assert run("plot", V2).exit_code == 2  # -o is required


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's `dot` is not installed (apt install graphviz); the .dot tests cover the rest")
@pytest.mark.parametrize("suffix, magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_image_with_graphviz(tmp_path, suffix, magic):
    out = tmp_path / f"model.{suffix}"
    result = run("plot", V2, "-o", out, "--no-shapes")
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)
