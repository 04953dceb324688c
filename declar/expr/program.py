"""Programs: an expression, or local names computed once, in order, and a result.

Wherever the spec writes an expression over tensors (a custom type's ``call``, a graph node's
``op``), it may instead write a program::

    call:
      let: {h: "matmul(inputs, w)", g: "relu(h)"}
      return: "h + g"

Each ``let`` expression is checked with the context's names plus the let names before it (a name
used before it is defined gets a hint saying so), the ``return`` expression with all of them. A
plain string is a program without ``let``. `check_program` never raises; each problem carries where
it is (``()`` for a plain string, ``("let", name)`` or ``("return",)``), so a caller adds that to the
value's spec path and locates the column inside the string as for any expression.
`program_closure` turns a checked program into one closure over an environment, as
`declar.expr.evaluate.to_closure` does for an expression: each let runs once per evaluation.

Example:
    >>> from declar.expr.parse import Context
    >>> program = check_program({"let": {"h": "a * 2"}, "return": "h + b"}, Context(names={"a", "b"}))
    >>> program_closure(program, {})({"a": 3, "b": 1})
    7
    >>> bad = check_program({"let": {"h": "g + 1", "g": "a"}, "return": "h"}, Context(names={"a"}))
    >>> [(p.where, p.problem.message) for p in bad.problems]
    [(('let', 'h'), "unknown name 'g' in expression")]
    >>> bad.problems[0].problem.hint
    "'g' is defined later in let; a let name can use only those before it"
"""

from __future__ import annotations

import ast
import dataclasses
import keyword
from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass
from typing import Any

from declar.expr.cost import fold
from declar.expr.evaluate import Closure, Env, to_closure
from declar.expr.parse import Checked, Context, ExprProblem, check
from declar.limits import DEFAULT_LIMITS, Limits

Where = tuple[str, ...]
LET, RETURN = "let", "return"
KEYS = (LET, RETURN)


@dataclass(frozen=True)
class ProgramProblem:
    """A problem of a program: ``where`` inside the value (``()``, ``("let", name)``, ``("return",)``),
    and the problem itself (its ``col`` counts inside that string; 1 for a structural problem).
    ``at_key`` is true when the problem is the key ``where`` names, not its value."""

    where: Where
    problem: ExprProblem
    at_key: bool = False


@dataclass(frozen=True)
class CheckedProgram:
    """A program that passed every check when ``problems`` is empty.

    ``steps`` are the let names with their checked expressions, in order; ``result`` is the checked
    return expression (the whole program for a plain string). ``names`` are the context's names
    the program uses, ``functions`` the function names it calls.
    """

    steps: tuple[tuple[str, Checked], ...]
    result: Checked | None
    problems: tuple[ProgramProblem, ...]
    names: frozenset[str] = frozenset()
    functions: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.problems and self.result is not None and self.result.tree is not None


def is_program(value: Any) -> bool:
    """True for what a program is written as: a string, or a mapping (checked by `check_program`)."""
    return isinstance(value, (str, Mapping))


def check_program(value: Any, context: Context, limits: Limits = DEFAULT_LIMITS, costs: bool = False
                  ) -> CheckedProgram:
    """Check a program (a string, or ``{let: {...}, return: ...}``) against ``context``; never raises.

    With ``costs``, each expression's constant parts are checked too (`declar.expr.cost`), as for
    expressions that run on tensors.
    """
    if isinstance(value, str) or not isinstance(value, Mapping):
        checked = check(value, context, limits)  # a non-string is refused there, with its message
        return _finish((), checked, [_problem((), p) for p in _found(checked, limits, costs)], context)
    problems: list[ProgramProblem] = []
    for key in value:
        if key not in KEYS:
            problems.append(ProgramProblem((str(key),), ExprProblem(
                1, f"unknown key '{key}' in a program", "a program has `let:` (optional) and `return:`",
                "unknown-key"), at_key=True))
    lets = value.get(LET) or {}
    if not isinstance(lets, Mapping):
        problems.append(ProgramProblem((LET,), ExprProblem(
            1, "let must map names to expressions", 'e.g. let: {h: "matmul(inputs, w)"}', "schema-type")))
        lets = {}
    bound = set(context.names)
    later = {str(name) for name in lets}
    steps: list[tuple[str, Checked]] = []
    constants: dict[str, Any] = {}  # let names whose value is a constant: the cost check sees through them
    for name, text in lets.items():
        later.discard(str(name))
        refused = _bad_let_name(name, bound, context)
        if refused:
            problems.append(ProgramProblem((LET, str(name)), ExprProblem(1, refused[0], refused[1], "bad-name"),
                                           at_key=True))
            continue
        checked = check(text, _with_names(context, bound, later), limits)
        found = checked.problems
        if costs and checked.tree is not None:
            cost, constant, known = fold(checked, limits, constants)
            found += cost
            if known:
                constants[name] = constant
        problems.extend(_problem((LET, name), p) for p in found)
        steps.append((name, checked))
        bound.add(name)
    if RETURN not in value:
        problems.append(ProgramProblem((), ExprProblem(1, "missing required key 'return' in a program",
                                                       "the value of the program: return: <expression>",
                                                       "missing-key")))
        return CheckedProgram(tuple(steps), None, tuple(problems))
    result = check(value[RETURN], _with_names(context, bound, set()), limits)
    problems.extend(_problem((RETURN,), p) for p in _found(result, limits, costs, constants))
    return _finish(tuple(steps), result, problems, context)


def program_closure(program: CheckedProgram, functions: Mapping[str, Callable[..., Any]],
                    limits: Limits | None = None) -> Closure:
    """The closure of a checked program: the let names computed once each, in order, then the result.

    Raises ValueError for a program with problems (the caller checked it; this is the second lock).
    """
    if not program.ok or program.result is None or program.result.tree is None:
        first = program.problems[0].problem.message if program.problems else "the program was not checked"
        raise ValueError(f"program refused: {first}")
    steps, result = _closures(program, functions, limits)
    if not steps:
        return result

    def run(env: Env) -> Any:
        local = dict(env)  # the caller's environment is left as it was
        for name, step in steps:
            local[name] = step(local)
        return result(local)

    return run


def program_scope_closure(program: CheckedProgram, functions: Mapping[str, Callable[..., Any]],
                          limits: Limits | None = None) -> Callable[[Env], tuple[Any, dict[str, Any]]]:
    """As `program_closure`, but the closure returns the result and the environment with the let names
    bound: what a custom type's losses and updates read after its call.

    Example:
        >>> from declar.expr.parse import Context
        >>> program = check_program({"let": {"h": "a * 2"}, "return": "h + 1"}, Context(names={"a"}))
        >>> result, names = program_scope_closure(program, {})({"a": 3})
        >>> result, names["h"]
        (7, 6)
    """
    if not program.ok:
        program_closure(program, functions, limits)  # raises with the program's first problem
    steps, result = _closures(program, functions, limits)

    def run(env: Env) -> tuple[Any, dict[str, Any]]:
        local = dict(env)
        for name, step in steps:
            local[name] = step(local)
        return result(local), local

    return run


def _closures(program: CheckedProgram, functions: Mapping[str, Callable[..., Any]], limits: Limits | None
              ) -> tuple[list[tuple[str, Closure]], Closure]:
    steps = [(name, to_closure(_tree(checked), functions, limits)) for name, checked in program.steps]
    return steps, to_closure(_tree(program.result), functions, limits)  # type: ignore[arg-type]


def program_texts(value: Any) -> list[tuple[Where, Any]]:
    """Each expression text of a program with where it is: for a diff, a plot or a docs listing.

    Example:
        >>> program_texts({"let": {"h": "a + 1"}, "return": "h"})
        [(('let', 'h'), 'a + 1'), (('return',), 'h')]
    """
    if not isinstance(value, Mapping):
        return [((), value)]
    lets = value.get(LET)
    found = [((LET, str(n)), t) for n, t in lets.items()] if isinstance(lets, Mapping) else []
    return [*found, ((RETURN,), value.get(RETURN))] if RETURN in value else found


def _tree(checked: Checked) -> ast.Expression:
    if checked.tree is None:  # unreachable after `ok`; kept for the type checker
        raise ValueError(f"expression refused: {checked.text}")
    return checked.tree


def _found(checked: Checked, limits: Limits, costs: bool, constants: Mapping[str, Any] | None = None
           ) -> tuple[ExprProblem, ...]:
    return checked.problems + (fold(checked, limits, constants)[0] if costs else ())


def _problem(where: Where, problem: ExprProblem) -> ProgramProblem:
    return ProgramProblem(where, problem)


class _LaterHints(Mapping[str, str]):
    """The context's name hints and one for each let name defined later, read through, not copied:
    a copy per let name made a chain of 16,000 of them take 49 s to validate."""

    def __init__(self, base: Mapping[str, str], later: Set[str]):
        self._base, self._later = base, later

    def __getitem__(self, name: str) -> str:
        if name in self._later:
            return f"'{name}' is defined later in let; a let name can use only those before it"
        return self._base[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._base), **dict.fromkeys(self._later)})

    def __len__(self) -> int:
        return len(set(self._base) | set(self._later))


def _with_names(context: Context, names: set[str], later: set[str]) -> Context:
    # the live sets, not copies: each let is checked before the next name is bound
    return dataclasses.replace(context, names=names, name_hints=_LaterHints(context.name_hints, later))


def _bad_let_name(name: Any, bound: set[str], context: Context) -> tuple[str, str] | None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
        return (f"'{name}' is not a valid let name",
                "names are Python identifiers: letters, digits and _, not starting with a digit")
    if name in context.names:
        return (f"let name '{name}' is already bound here", "choose another name; let does not shadow")
    if name in context.functions or name == "base":
        return (f"let name '{name}' is a function of the table", "choose another name")
    if name in bound:  # unreachable with YAML (duplicate keys are refused), possible in data
        return f"let name '{name}' is given twice", ""
    return None


def _finish(steps: tuple[tuple[str, Checked], ...], result: Checked, problems: list[ProgramProblem],
            context: Context) -> CheckedProgram:
    checked = [c for _, c in steps] + [result]
    names = frozenset().union(*(c.names for c in checked)) & frozenset(context.names)
    calls = frozenset(n.func.id for c in checked if c.tree is not None for n in ast.walk(c.tree)
                      if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))
    return CheckedProgram(steps, result, tuple(problems), names, calls)
