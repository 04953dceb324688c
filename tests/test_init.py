"""`declar init`: a starter spec that validates and builds, with the editor's schema modeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.spec.bundle import bundle

ROOT = Path(__file__).resolve().parent.parent

runner = CliRunner()


def run(*args: object, cwd: Path | None = None):
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        return runner.invoke(app, [str(a) for a in args])
    finally:
        os.chdir(old)


def test_writes_a_valid_buildable_spec_named_for_the_pre_commit_hook(tmp_path):
    result = run("init", "sentiment", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    path = tmp_path / "sentiment.declar.yaml"
    assert result.output == "wrote sentiment.declar.yaml\n"
    assert declar.validate(str(path)) == []
    model = declar.build(str(path))
    assert model.name == "sentiment" and model.output_shape == (None, 1) and model.compiled


@pytest.mark.parametrize("where", ["cwd", "nested", "absolute"])
def test_modeline_is_the_published_schema_on_any_machine(tmp_path, where):
    """Never a path of this machine (its checkout, its site-packages): the spec is committed."""
    nested = tmp_path / "project" / "models"
    nested.mkdir(parents=True)
    args = {"cwd": ("init", "m"), "nested": ("init", "m", "-o", "models/m.yaml"),
            "absolute": ("init", "m", "-o", nested / "a.yaml")}[where]
    assert run(*args, cwd=tmp_path if where == "cwd" else tmp_path / "project").exit_code == 0
    (written,) = [p for p in tmp_path.rglob("*.yaml")]
    first = written.read_text().splitlines()[0]
    ref = first.split("# yaml-language-server: $schema=", 1)[1]
    assert ref == "https://declar.dev/schemas/declar.schema.json" == bundle()["$id"]
    for local in (str(tmp_path), str(ROOT), "site-packages", "..", "file:"):
        assert local not in ref
    assert not Path(ref).is_absolute()


def test_schema_option_overrides(tmp_path):
    assert run("init", "m", "-o", tmp_path / "m.yaml", "--schema", "../schemas/declar.schema.json").exit_code == 0
    assert "$schema=../schemas/declar.schema.json\n" in (tmp_path / "m.yaml").read_text()


def test_never_overwrites(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("mine\n")
    result = run("init", "m", "-o", path)
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert path.read_text() == "mine\n"


def test_name_must_be_an_identifier(tmp_path):
    result = run("init", "my-model", cwd=tmp_path)
    assert result.exit_code == 1
    assert "'my_model'" in result.output
    assert list(tmp_path.iterdir()) == []
