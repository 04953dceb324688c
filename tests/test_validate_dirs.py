"""`declar validate` on directories and with `--format github`, as CI and pre-commit users run it."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from declar.cli import app, spec_files

ROOT = Path(__file__).resolve().parent.parent
TYPO = ROOT / "tests" / "data" / "typo.yaml"
GOOD = ROOT / "specs" / "keras_guide" / "custom_build.yaml"
runner = CliRunner()


def project(tmp_path: Path) -> Path:
    """A project with specs at two depths, a hidden folder and files that are not specs."""
    (tmp_path / "models" / "v2").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    shutil.copy(GOOD, tmp_path / "models" / "good.yaml")
    shutil.copy(TYPO, tmp_path / "models" / "v2" / "typo.yml")
    shutil.copy(TYPO, tmp_path / ".git" / "hidden.yaml")
    (tmp_path / "models" / "README.md").write_text("not a spec\n")
    (tmp_path / "models" / ".draft.yaml").write_text("declar: [\n")
    return tmp_path


def test_a_directory_means_every_yaml_and_yml_file_under_it_except_hidden_ones(tmp_path):
    root = project(tmp_path)
    assert spec_files([root]) == [root / "models" / "good.yaml", root / "models" / "v2" / "typo.yml"]


def test_validate_dir_checks_the_specs_under_it_instead_of_saying_is_a_directory(tmp_path):
    root = project(tmp_path)
    result = runner.invoke(app, ["validate", str(root)])
    assert result.exit_code == 1
    assert "Is a directory" not in result.output
    assert f"{root}/models/v2/typo.yml:3:1: error: unknown key 'seeed' (did you mean 'seed'?)" in result.output
    assert result.stderr.endswith("problems in 1 of 2 files\n")


def test_validate_specs_dir_of_the_repository_is_clean():
    result = runner.invoke(app, ["validate", str(ROOT / "specs")])
    assert result.exit_code == 0, result.output
    count = len(spec_files([ROOT / "specs"]))
    assert count >= 20 and result.stderr == f"{count} specs valid\n"


def test_a_directory_without_specs_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "no *.yaml or *.yml files under" in result.output


def test_format_github_prints_workflow_annotations_at_each_problem(tmp_path):
    result = runner.invoke(app, ["validate", "--format", "github", str(TYPO)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (f"::error file={TYPO},line=3,col=1,title=declar unknown-key::unknown key 'seeed' "
                        "(did you mean 'seed'?)")
    assert len(lines) == 6 and all(line.startswith("::error file=") for line in lines)


def test_format_github_escapes_spec_text_that_would_forge_another_command(tmp_path):
    spec = tmp_path / "forge.yaml"
    spec.write_text('declar: 2\nname: m\ninputs: {x: {shape: [2]}}\nmodel:\n'
                    '  - "Dense%0A::error file=x::forged": {units: 1}\n'
                    '  - "Dense\\n::error file=y::forged": {units: 1}\n')
    result = runner.invoke(app, ["validate", "--format", "github", str(spec)])
    assert result.exit_code == 1
    assert all(line.startswith(f"::error file={spec},line=") for line in result.stdout.splitlines())
    assert "%250A::error file=x::forged" in result.stdout
    assert "Dense\\n::error file=y::forged" in result.stdout and len(result.stdout.splitlines()) == 2
