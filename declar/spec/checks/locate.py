"""Where a problem inside a string (an expression) is in the file."""

from __future__ import annotations

import bisect
from typing import Any

from declar.errors import JsonPath, Problem
from declar.expr.cost import cost_problems
from declar.expr.parse import Checked, Context, check
from declar.expr.program import CheckedProgram, check_program
from declar.limits import Limits
from declar.spec.source import Document


def expression_problem(doc: Document, path: JsonPath, checked_col: int, message: str, hint: str,
                       code: str) -> Problem:
    """Locate a problem inside an expression: the string's position plus the column inside it.

    The expression may be quoted, or span several lines (plain, folded or literal scalars): the
    source is walked alongside the expression, whitespace and line breaks matching loosely, to
    find the file line and column of the expression's ``checked_col``.
    """
    line, col = doc.source_map.position(path)
    text = _value_at(doc.data, path)
    found = _locate_in_source(doc, line, col, text, checked_col) if isinstance(text, str) else None
    if found:
        return Problem(doc.file, found[0], found[1], path, message, hint, code)
    return Problem(doc.file, line, col, path, f"{message} (column {checked_col} of the expression)", hint, code)


def _locate_in_source(doc: Document, line: int, col: int, text: str, target: int) -> tuple[int, int] | None:
    source, starts = doc.text, doc.line_starts
    if not 0 < line <= len(starts):
        return None
    pos = starts[line - 1] + col - 1
    if source[pos:pos + 1] in ("|", ">"):  # block scalar: content starts on the next line
        pos = source.find("\n", pos) + 1
    elif source[pos:pos + 1] in ("'", '"'):
        pos += 1
    for i, char in enumerate(text):
        if pos >= len(source):
            return None
        if char.isspace():
            continue
        while pos < len(source) and source[pos].isspace():
            pos += 1
        if pos >= len(source) or source[pos] != char:
            return None  # escapes or folding we do not model: fall back to the string's start
        if i == target - 1:
            at_line = bisect.bisect_right(starts, pos)
            return at_line, pos - starts[at_line - 1] + 1
        pos += 1
    return None


def _value_at(data: Any, path: JsonPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def checked_expression(doc: Document, path: JsonPath, text: str, context: Context, limits: Limits,
                       costs: bool = False) -> tuple[Checked, list[Problem]]:
    """Check an expression of the spec; with ``costs``, also its constant parts (see declar.expr.cost).

    Expressions that run on tensors (a call, a function) are checked for costs; shape expressions
    are computed whole by their own check.
    """
    checked = check(text, context, limits)
    found = checked.problems + (cost_problems(checked, limits) if costs else ())
    return checked, [expression_problem(doc, path, p.col, p.message, p.hint, p.code) for p in found]


def checked_program(doc: Document, path: JsonPath, value: Any, context: Context, limits: Limits,
                    costs: bool = False) -> tuple[CheckedProgram, list[Problem]]:
    """Check a program of the spec (an expression, or ``{let: ..., return: ...}``, see
    `declar.expr.program`), each problem located inside the string it is in.

    Example (a graph node's ``op:``, say): ``program, problems = checked_program(doc, ("model", "nodes",
    "summed", "op"), value, Context(names=refs), limits, costs=True)``.
    """
    program = check_program(value, context, limits, costs)
    problems = []
    for found in program.problems:
        at, p = (*path, *found.where), found.problem
        if found.at_key or not isinstance(_value_at(doc.data, at), str):
            problems.append(doc.problem(at, p.message, p.hint, p.code, at_key=found.at_key))
        else:
            problems.append(expression_problem(doc, at, p.col, p.message, p.hint, p.code))
    return program, problems
