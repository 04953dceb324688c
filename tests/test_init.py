"""`declar init`: a starter spec that validates and builds, with the editor's schema modeline."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.spec.schema import schema

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


def test_modeline_points_at_the_schema(tmp_path):
    out = tmp_path / "sub" / "m.yaml"
    out.parent.mkdir()
    assert run("init", "m", "-o", out).exit_code == 0
    first = out.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    ref = first.split("$schema=", 1)[1]
    published = schema().get("$id")
    if published:
        assert ref == published
    else:  # no published URL yet: the packaged schema, relative to the new file
        target = (out.parent / ref).resolve()
        assert target.is_file() and target.read_text() == (Path(declar.__file__).parent / "data" /
                                                           "declar.schema.json").read_text()


def test_published_id_is_used_when_the_schema_has_one(tmp_path, monkeypatch):
    url = "https://example.org/declar/v1/declar.schema.json"
    monkeypatch.setattr("declar.spec.schema.schema", lambda *a: {"$id": url})
    assert run("init", "m", "-o", tmp_path / "m.yaml").exit_code == 0
    assert (tmp_path / "m.yaml").read_text().splitlines()[0] == f"# yaml-language-server: $schema={url}"


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
