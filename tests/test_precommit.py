"""The published pre-commit hook (.pre-commit-hooks.yaml), and pre-commit running it end to end."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / ".pre-commit-hooks.yaml"
DECLAR = Path(sys.executable).parent / "declar"
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"

GOOD = """\
declar: 1
name: good
inputs:
  x: {shape: [4]}
model:
  - Dense: {units: 2}
"""
BAD = GOOD.replace("name: good", "name: bad").replace("{units: 2}", "{unit: 2}")


def hook(hook_id: str = "declar-validate") -> dict:
    (found,) = [h for h in yaml.safe_load(HOOKS.read_text()) if h["id"] == hook_id]
    return found


def scratch_repository(tmp_path: Path, published: dict) -> tuple[Path, Callable[..., subprocess.CompletedProcess]]:
    """A git repository whose pre-commit config runs ``published`` as a local hook, and a runner in it."""
    config = {"repos": [{"repo": "local", "hooks": [{
        "id": published["id"], "name": published["name"], "language": "system",
        "entry": f"{DECLAR} {published['entry'].removeprefix('declar ')}", "files": published["files"]}]}]}
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_HOME=str(tmp_path / "cache"), HOME=str(tmp_path), GIT_CONFIG_NOSYSTEM="1",
               TF_CPP_MIN_LOG_LEVEL="3")

    def sh(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)

    git = shutil.which("git")
    assert git, "git is needed"
    assert sh(git, "init", "-q").returncode == 0
    return repo, sh


def test_published_hook():
    h = hook()
    assert h["id"] == "declar-validate"
    assert h["entry"] == "declar validate"
    assert h["language"] == "python"
    files = re.compile(h["files"])
    # pre-commit matches `files` with re.search against paths relative to the repository root
    examples = [p.relative_to(ROOT).as_posix() for p in ROOT.glob("specs/**/*.yaml")]
    assert len(examples) >= 9 and all(files.search(p) for p in examples)
    for path in ("model.declar.yaml", "models/m.declar.yml", "ml/specs/nested/m.yml"):
        assert files.search(path), path
    for path in ("README.md", ".pre-commit-config.yaml", "config.yaml", "tests/data/typo.yaml",
                 "myspecs/m.yaml", "specs/notes.md", "model.declar.yaml.bak"):
        assert not files.search(path), path


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed (pip install -e '.[test]')")
def test_pre_commit_fails_on_the_invalid_spec_then_passes(tmp_path):
    """pre-commit in a scratch git repository, with a hook that mirrors the published one.

    The hook is `repo: local` with `language: system` and this environment's `declar` as entry:
    the published hook's `language: python` would make pre-commit create a fresh virtualenv and
    pip-install declar with TensorFlow into it on the first run, minutes the suite cannot spend.
    `files` and the `validate` sub-command are taken from the published hook, so the two agree.
    """
    repo, sh = scratch_repository(tmp_path, hook())
    (repo / "specs" / "good.yaml").write_text(GOOD)
    (repo / "bad.declar.yaml").write_text(BAD)
    (repo / "notes.yaml").write_text("not: a spec\n")  # not matched by `files`, so never checked
    git = shutil.which("git")
    assert sh(git, "add", "-A").returncode == 0

    failed = sh(str(PRE_COMMIT), "run", "--all-files", "--color", "never")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "bad.declar.yaml:6:13: error: 'Dense' has no argument 'unit' (did you mean 'units'?)" in failed.stdout
    assert "bad.declar.yaml:6:5: error: 'Dense' needs argument 'units'" in failed.stdout
    # both specs were checked, notes.yaml (not matched by `files`) was not
    assert "2 problems in 1 of 2 files" in failed.stdout
    assert "good.yaml:" not in failed.stdout and "notes.yaml" not in failed.stdout

    (repo / "bad.declar.yaml").write_text(BAD.replace("{unit: 2}", "{units: 2}"))
    assert sh(git, "add", "-A").returncode == 0
    passed = sh(str(PRE_COMMIT), "run", "--all-files", "--color", "never")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"declar validate\.+Passed", passed.stdout)


def test_published_migrate_check_hook_matches_the_validate_hook():
    validate, migrate = hook(), hook("declar-migrate-check")
    assert migrate["entry"] == "declar migrate --check"
    assert {k: v for k, v in migrate.items() if k not in ("id", "name", "description", "entry")} == \
        {k: v for k, v in validate.items() if k not in ("id", "name", "description", "entry")}


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed (pip install -e '.[test]')")
def test_pre_commit_migrate_check_fails_on_a_format_1_spec_and_changes_nothing(tmp_path):
    """As above, with the migrate hook: an old spec stops the commit and is left as it is."""
    repo, sh = scratch_repository(tmp_path, hook("declar-migrate-check"))
    old = ("declar: 1\nname: old\ninputs:\n  x: {shape: [4]}\nmodel:\n  nodes:\n"
           "    out: {layer: Dense, args: {units: 2}, inputs: x}  # the head\n  outputs: out\n")
    (repo / "specs" / "current.yaml").write_text(GOOD.replace("declar: 1", "declar: 2"))
    (repo / "old.declar.yaml").write_text(old)
    git = shutil.which("git")
    assert sh(git, "add", "-A").returncode == 0

    failed = sh(str(PRE_COMMIT), "run", "--all-files", "--color", "never")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "would migrate old.declar.yaml from format 1 to 2 (1 graph node)" in failed.stdout
    assert (repo / "old.declar.yaml").read_text() == old  # --check writes nothing

    assert sh(str(DECLAR), "migrate", "old.declar.yaml").returncode == 0
    assert re.search(r"out: \{Dense: \{units: 2\}, inputs: x\} +# the head", (repo / "old.declar.yaml").read_text())
    assert sh(git, "add", "-A").returncode == 0
    passed = sh(str(PRE_COMMIT), "run", "--all-files", "--color", "never")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"declar migrate --check\.+Passed", passed.stdout)
