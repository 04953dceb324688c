"""The core install: `pip install declar` pulls no deep-learning framework, and what needs none
(validate, schema, inspect, diff --no-build, migrate) works there; what needs Keras names the extra.

This installs the repository into a fresh virtual environment from the package index, as a user
(and pre-commit's `language: python` hook) does: about a minute, so it is marked slow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = {"tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch", "keras"}


def environment_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@pytest.fixture(scope="module")
def core(tmp_path_factory) -> Path:
    """A fresh environment with the core install of a copy of this repository (no git metadata)."""
    tmp = tmp_path_factory.mktemp("core")
    source = tmp / "declar"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv*", "*.egg-info", "__pycache__",
                                                                  "*.keras", "build", "dist"))
    env_dir = tmp / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(source)],
                               capture_output=True, text=True, timeout=900)
    if installed.returncode != 0 and "Could not find a version" in installed.stderr:
        pytest.skip(f"the package index is not reachable: {installed.stderr[-300:]}")
    assert installed.returncode == 0, installed.stderr[-2000:]
    return env_dir


def declar(env_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(env_dir / "bin" / "declar"), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env=env)


@pytest.mark.slow
def test_the_core_install_pulls_no_deep_learning_framework(core):
    listed = subprocess.run([str(core / "bin" / "python"), "-m", "pip", "list", "--format", "freeze"],
                            capture_output=True, text=True, check=True).stdout
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "declar" in names and not names & FRAMEWORKS, sorted(names & FRAMEWORKS)
    size = environment_size(core)
    print(f"core environment: {size / 2**20:.0f} MiB")  # reported in the README (pre-commit's hook env)
    assert size < 200 * 2**20


@pytest.mark.slow
def test_validate_schema_diff_and_migrate_work_without_keras(core, tmp_path):
    assert declar(core, "validate", "specs").returncode == 0
    typo = declar(core, "validate", "tests/data/typo.yaml")
    assert typo.returncode == 1 and "typo.yaml:3:1: error: unknown key 'seeed'" in typo.stdout
    assert declar(core, "schema").stdout.startswith("{")
    old = ROOT / "specs" / "examples" / "mnist_convnet.yaml"
    new = tmp_path / "new.yaml"
    new.write_text(old.read_text().replace("units: 10", "units: 12"))
    differ = declar(core, "diff", str(old), str(new))
    assert differ.returncode == 1 and "units: 10 -> 12" in differ.stdout
    assert "Keras is not installed" in differ.stderr
    assert declar(core, "migrate", "--check", str(old)).returncode == 0


@pytest.mark.slow
def test_a_command_that_needs_keras_names_the_extra_to_install(core, tmp_path):
    built = declar(core, "build", "specs/examples/mnist_convnet.yaml")
    assert built.returncode == 1
    assert built.stderr == ("error: this command needs Keras and a backend, which are not installed: "
                            "pip install 'declar[tensorflow]' (or 'declar[jax]', 'declar[torch]')\n")
    assert "Traceback" not in built.stderr
    assert sys.executable  # the suite's own environment is untouched


@pytest.mark.slow
def test_the_sdist_carries_and_passes_its_own_tests(tmp_path):
    """The source distribution, unpacked anywhere, runs its tests (the data they read comes along)."""
    import tarfile

    source = tmp_path / "checkout"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv*", "*.egg-info", "__pycache__",
                                                                  "*.keras", "build", "dist"))
    builder = tmp_path / "builder"
    venv.EnvBuilder(with_pip=True).create(builder)
    python = str(builder / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "setuptools>=77"], check=True, timeout=600,
                   capture_output=True)
    subprocess.run([python, "-c", "from setuptools import build_meta; build_meta.build_sdist('dist')"],
                   cwd=source, check=True, timeout=600, capture_output=True)
    (sdist,) = (source / "dist").glob("declar-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    for needed in ("LICENSE", "tests/data/typo.yaml", "tests/invalid", "specs/examples/mnist_convnet.yaml",
                   "schemas/declar.schema.json", "devtools/generate.py", "docs/spec-reference.md"):
        assert (unpacked / needed).exists(), needed
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                            "tests/test_validate_dirs.py", "tests/test_invalid_specs.py",
                            "tests/test_generated_files.py"], cwd=unpacked, env=env, capture_output=True, text=True,
                           timeout=900)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout.splitlines()[-1]
