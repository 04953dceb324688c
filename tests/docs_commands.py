"""The documented commands: every ``$ command`` of a fenced block in the README and docs/, with
the output shown under it, read so that a test can run them and compare.

A block may say, in an HTML comment on the line before its fence, that its command's output is the
Markdown rendered after the block (``<!-- docs-test: output rendered below -->``, the output ending
at ``<!-- docs-test: end of output -->``), that a test elsewhere shows it
(``<!-- docs-test: shown by tests/test_precommit.py::test_name -->``: the command needs a set-up
of its own, such as a second repository or two machines) or that it is not run at all
(``<!-- docs-test: not run: installs packages -->``); the docs test checks that the named test
exists, so such a comment cannot outlive what it points at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<what>.+?)\s*-->")
PROMPT = "$ "


@dataclass
class Command:
    """One ``$ command`` line and the output lines the document shows under it."""

    document: str
    line: int
    text: str
    expected: list[str] = field(default_factory=list)
    directive: str = ""

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


RENDERED_BELOW = "output rendered below"
END_OF_OUTPUT = "<!-- docs-test: end of output -->"


def documented_commands(path: Path, root: Path) -> list[Command]:
    """The commands of the document ``path``, in order, with their expected output."""
    lines = path.read_text().splitlines()
    commands: list[Command] = []
    inside, directive, previous = False, "", ""
    for number, line in enumerate(lines, start=1):
        if line.startswith("```"):
            if not inside:
                found = DIRECTIVE.search(previous)
                directive = found.group("what") if found else ""
            elif directive == RENDERED_BELOW and commands:
                end = lines.index(END_OF_OUTPUT, number)
                commands[-1].expected = lines[number:end]
                commands[-1].directive = ""
            inside = not inside
            previous = line
            continue
        if inside and line.startswith(PROMPT):
            commands.append(Command(str(path.relative_to(root)), number, line[len(PROMPT):], [],
                                    RENDERED_BELOW if directive == RENDERED_BELOW else directive))
        elif inside and commands and commands[-1].line < number and _in_same_block(lines, commands[-1].line, number):
            commands[-1].expected.append(line)
        if line.strip():
            previous = line
    return commands


def _in_same_block(lines: list[str], command_line: int, number: int) -> bool:
    return not any(line.startswith("```") for line in lines[command_line:number - 1])


def documents(root: Path) -> list[Path]:
    """The README and every page of docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]
