"""Every ``$ command`` the README and docs/ show runs, from a scratch copy of the repository, and
prints what the document says (after normalizing only what varies between runs: timings,
temporary paths and TensorFlow's start-up lines)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from declar.startup_noise import is_startup_noise
from tests.docs_commands import Command, documented_commands, documents

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [d for d in documents(ROOT) if documented_commands(d, ROOT)]
TIMING = re.compile(r"\b\d+(\.\d+)?\s?(ms|s)\b")
COPY_IGNORED = shutil.ignore_patterns(".git", ".venv*", "*.egg-info", "__pycache__", "*.keras", ".pytest_cache",
                                      ".hypothesis", "build", "dist")


def normalized(lines: list[str], scratch: Path) -> list[str]:
    shown = []
    for line in lines:
        if is_startup_noise(line):
            continue
        line = line.replace(f"{scratch}/", "").replace(str(scratch), ".")
        shown.append(TIMING.sub("<time>", line).rstrip())
    while shown and not shown[-1]:
        shown.pop()
    while shown and not shown[0]:
        shown.pop(0)
    return shown


def scratch_copy(tmp_path: Path) -> Path:
    """The repository as a user's checkout: its files, in a git repository of their own."""
    scratch = tmp_path / "declar"
    shutil.copytree(ROOT, scratch, ignore=COPY_IGNORED)
    git = ["git", "-c", "user.name=docs", "-c", "user.email=docs@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
        subprocess.run([*git, *args], cwd=scratch, check=True, capture_output=True)
    return scratch


def run(command: Command, scratch: Path, last_code: int) -> tuple[int, list[str]]:
    if command.text.strip() == "echo $?":
        return 0, [str(last_code)]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "NO_COLOR": "1", "COLUMNS": "100",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(["bash", "-c", command.text], cwd=scratch, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    return done.returncode, done.stdout.splitlines()


def test_documented_commands_are_found():
    commands = [c for d in DOCUMENTS for c in documented_commands(d, ROOT)]
    assert len(commands) >= 20
    assert any(c.text.startswith("declar validate") and c.expected for c in commands)


def test_every_pointer_to_another_test_names_a_test_that_exists():
    for document in DOCUMENTS:
        for command in documented_commands(document, ROOT):
            pointer = re.match(r"shown by (\S+)::(\w+)", command.directive)
            if pointer:
                source = ROOT / pointer.group(1)
                assert source.exists() and f"def {pointer.group(2)}(" in source.read_text(), command.id
            else:
                assert command.directive in ("",) or command.directive.startswith("not run: "), command.id


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_documented_commands_print_what_the_document_shows(document, tmp_path):
    scratch = scratch_copy(tmp_path)
    mismatches, last_code = [], 0
    for command in documented_commands(document, ROOT):
        if command.directive:
            continue
        last_code, output = run(command, scratch, last_code)
        got, expected = normalized(output, scratch), normalized(command.expected, scratch)
        if got != expected:
            mismatches.append(f"{command.id}: $ {command.text}\n  documented:\n    " + "\n    ".join(expected)
                              + "\n  printed:\n    " + "\n    ".join(got))
    assert not mismatches, "\n\n".join(mismatches)
