"""Archives written by earlier declar versions (tests/fixtures/archives/declar-*/) keep loading.

Each fixture directory was written once by `devtools/make_archive_fixtures.py` with the declar
version it is named after, and is never rewritten: every later version must load each archive in
a fresh process with `import declar` alone, safe mode on, without warnings, and give the recorded
predictions, weights and optimizer state bit for bit (TensorFlow, the backend they were saved on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "archives"
DIRECTORIES = sorted(d for d in FIXTURES.iterdir() if d.is_dir())


@pytest.fixture(scope="module")
def loaded() -> dict[str, dict]:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, str(Path(__file__).parent / "fixture_worker.py"), *map(str, DIRECTORIES)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return {Path(r["archive"]).relative_to(FIXTURES).as_posix(): r for r in results}


ARCHIVES = sorted(p.relative_to(FIXTURES).as_posix() for d in DIRECTORIES for p in d.glob("*.keras"))


def test_there_are_fixtures_of_the_first_format() -> None:
    assert len([a for a in ARCHIVES if a.startswith("declar-0.1.0/")]) == 6


@pytest.mark.parametrize("archive", ARCHIVES)
def test_old_archive_loads_bit_identically(loaded: dict[str, dict], archive: str) -> None:
    result = loaded[archive]
    assert result["class"] == "DeclarModel"
    assert result["predictions"] == []
    assert result["weights"] == []
    assert result["optimizer"] == []
    assert result["warnings"] == []


def test_fixture_index_matches_the_archives() -> None:
    for directory in DIRECTORIES:
        index = json.loads((directory / "index.json").read_text())
        assert sorted(index) == sorted(p.stem for p in directory.glob("*.keras"))
