"""Property tests of the expression language: `check` never raises, and what it accepts runs safely.

Random text, and token soups and expression-shaped strings assembled from the language's pieces,
go through `check`. The result must be either problems (each with a message and a column) or a
tree; a tree is then evaluated with `to_closure` over a table of recording stubs, with numbers bound
to the names. Evaluation may fail only with ExpressionError, ArithmeticError, TypeError or
ValueError; while it runs, no Python code other than the evaluator and the stubs executes, no
dangerous builtin is called, and only functions of the table are called.

``DECLAR_FUZZ_EXAMPLES=20000 pytest tests/test_expr_properties.py`` runs a longer fuzz.
"""

from __future__ import annotations

import ast
import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import declar.expr.evaluate as evaluate_module
import declar.expr.sizes as sizes_module
from declar.expr.evaluate import ExpressionError, to_closure
from declar.expr.ops import OPS, SHAPE_FUNCTIONS
from declar.expr.parse import Checked, Context, check

EXAMPLES = int(os.environ.get("DECLAR_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BOUND = ("a", "b", "x", "y", "inputs")
FUNCTION_NAMES = sorted({*OPS, *SHAPE_FUNCTIONS, "base"})
CONTEXT = Context(names=BOUND, functions=OPS, allow_base=True)
ALLOWED_ERRORS = (ExpressionError, ArithmeticError, TypeError, ValueError)
DANGEROUS_BUILTINS = {"eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "delattr", "globals",
                      "locals", "vars", "breakpoint", "input", "system", "format", "format_map"}
# The evaluator and its size guard (pure arithmetic on the arguments' static shapes, run before a
# size-making function such as broadcast_to or tile allocates): the only declar code evaluating runs.
EVALUATOR_FILES = {Path(evaluate_module.__file__).resolve(), Path(sizes_module.__file__).resolve()}


class Calls:
    """A function table of stubs that record every call; any other name is absent."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.table: dict[str, Callable[..., Any]] = {name: self._stub(name) for name in FUNCTION_NAMES}
        self.stub_codes = {f.__code__ for f in self.table.values()}

    def _stub(self, name: str) -> Callable[..., Any]:
        def stub(*args: Any, **kwargs: Any) -> Any:
            self.made.append(name)
            return 1
        return stub


def _assert_well_formed(checked: Checked, text: object) -> None:
    assert isinstance(checked, Checked)
    if checked.tree is None:
        assert checked.problems, f"neither a tree nor problems for {text!r}"
    else:
        assert checked.problems == ()
        assert checked.names <= set(BOUND)
    for problem in checked.problems:
        assert isinstance(problem.message, str) and problem.message
        assert isinstance(problem.col, int) and not isinstance(problem.col, bool) and problem.col >= 1
        assert isinstance(problem.code, str) and problem.code


def _evaluate_profiled(closure: Callable[[Any], Any], env: dict[str, Any], calls: Calls) -> list[str]:
    """Evaluate under a profiler; return the Python code, other than evaluator and stubs, that ran."""
    foreign: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            if code not in calls.stub_codes and Path(code.co_filename).resolve() not in EVALUATOR_FILES:
                foreign.append(f"{code.co_filename}:{code.co_name}")
        elif event == "c_call" and getattr(arg, "__name__", "") in DANGEROUS_BUILTINS:
            foreign.append(f"builtin {arg.__name__}")

    gc_was_enabled = gc.isenabled()
    gc.disable()  # gc callbacks (hypothesis registers one) would otherwise show up as foreign code
    sys.setprofile(profile)
    try:
        closure(env)
    except ALLOWED_ERRORS:
        pass
    finally:
        sys.setprofile(None)
        if gc_was_enabled:
            gc.enable()
    return foreign


def _run_checked(text: object, env: dict[str, Any]) -> None:
    """The whole property for one input."""
    checked = check(text, CONTEXT)  # type: ignore[arg-type]
    _assert_well_formed(checked, text)
    if checked.tree is None:
        return
    calls = Calls()
    try:
        closure = to_closure(checked.tree, calls.table)
    except ExpressionError:
        return
    assert calls.made == [], "building the closure called a function"

    foreign = _evaluate_profiled(closure, env, calls)
    assert not foreign, f"{text!r} ran code outside the evaluator and the stubs: {foreign}"
    named_in_text = {n.func.id for n in ast.walk(checked.tree)
                     if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert set(calls.made) <= named_in_text & set(calls.table)


# ----------------------------------------------------------------------------------------------
# Strategies

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
envs = st.fixed_dictionaries({name: numbers for name in BOUND})

NUMBER_TOKENS = ["0", "1", "2", "3", "10", "2.5", "1e308", "0.0", "9223372036854775807", "10**10", "-1", "True",
                 "None", "1j", "0x10", "1" + "0" * 25]
NAME_TOKENS = [*BOUND, "zz", "__class__", "__builtins__", "__import__", "os", "self"]
OPERATOR_TOKENS = ["+", "-", "*", "/", "//", "%", "**", "@", "==", "!=", "<", "<=", ">", ">=", "and", "or", "not",
                   "if", "else", "in", "is", "~", "=", ":=", "lambda", "for", "yield", "await", "&", "|", "^", "<<",
                   ">>"]
PUNCTUATION_TOKENS = ["(", ")", "[", "]", ",", ".", ":", "...", "{", "}", ";", '"int32"', "'a'", "f'{x}'",
                      "axis=", "keepdims=", "x1=", "__class__", "numpy", "\n"]
ACCEPTED_OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "@", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
REFUSED_OPERATORS = ["in", "not in", "is", "is not", "&", "|", "^", "<<", ">>"]
EXPRESSION_ALPHABET = "abxy0123456789e_ .+-*/%()[],:='\"!@~{};&|^<>\n"

token_soups = st.builds(lambda tokens, sep: sep.join(tokens),
                        st.lists(st.sampled_from(NUMBER_TOKENS + NAME_TOKENS + OPERATOR_TOKENS + PUNCTUATION_TOKENS
                                                 + FUNCTION_NAMES), max_size=25),
                        st.sampled_from(["", " "]))


def expressions(hostile: bool) -> st.SearchStrategy[str]:
    """Expression-shaped strings built from the language's own constructs.

    With ``hostile=False`` nearly everything drawn is accepted by check() (only unknown keyword arguments,
    wrong argument counts and the like are refused), so evaluation is exercised; with ``hostile=True``
    refused constructs (attributes, lambdas, comprehensions, bitwise operators...) are mixed in.
    """
    atoms = st.one_of(
        st.sampled_from(BOUND),
        st.sampled_from(["0", "1", "2", "3", "10", "2.5", "1e308", "0.0", "9223372036854775807", "True", "None"]),
        st.integers(min_value=-(10**6), max_value=10**6).map(str),
        st.floats(min_value=-1e6, max_value=1e6).map(repr),
    )
    operators = ACCEPTED_OPERATORS + (REFUSED_OPERATORS if hostile else [])
    functions = [*FUNCTION_NAMES, *(["eval", "getattr", "zz"] if hostile else [])]
    keywords = ["axis", "keepdims", "x1", "x2", "dtype", *(["zz", "__class__"] if hostile else [])]
    strings = st.sampled_from(['"int32"', '"float32"', "'ij,jk->ik'"])

    def grammar() -> st.SearchStrategy[str]:
        inner = expression
        argument = st.one_of(inner, strings)
        options = [
            st.builds(lambda left, op, right: f"({left} {op} {right})", inner, st.sampled_from(operators), inner),
            st.builds(lambda left, op, right: f"{left} {op} {right}", inner, st.sampled_from(operators), inner),
            st.builds(lambda op, v: f"{op}{v}", st.sampled_from(["-", "+", "not ", "-(", "+("]), inner).map(
                lambda t: t + ")" if t.count("(") > t.count(")") else t),
            st.builds(lambda f, args, kws: f"{f}({', '.join([*args, *(f'{k}={v}' for k, v in kws)])})",
                      st.sampled_from(functions), st.lists(argument, max_size=3),
                      st.lists(st.tuples(st.sampled_from(keywords), argument), max_size=2, unique_by=lambda t: t[0])),
            st.builds(lambda v, i: f"{v}[{i}]", inner, inner),
            st.builds(lambda v, lo, hi, step: f"{v}[{lo}:{hi}{step}]", inner, inner, inner,
                      st.sampled_from(["", ":0", ":-1", ":2"])),
            st.builds(lambda v, i: f"{v}[:, {i}:]", inner, inner),
            st.builds(lambda items: f"[{', '.join(items)}]", st.lists(inner, max_size=3)),
            st.builds(lambda items: f"({', '.join(items)},)", st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda a, c, b: f"{a} if {c} else {b}", inner, inner, inner),
            st.builds(lambda a, b, c: f"{a} < {b} <= {c}", inner, inner, inner),
            st.builds(lambda v, e: f"({v}) ** {e}", inner, st.sampled_from(["10 ** 10", "2", "0.5", "-1", "4096"])),
        ]
        if hostile:
            options += [
                st.builds(lambda v, i: f"{v}[..., {i}]", inner, inner),
                st.builds(lambda v: f"~{v}", inner),
                st.builds(lambda v, a: f"{v}.{a}", inner, st.sampled_from(["__class__", "numpy", "T", "__globals__"])),
                st.builds(lambda v, f: f"{v}({f})", inner, inner),
                st.builds(lambda v: f"lambda: {v}", inner),
                st.builds(lambda v: f"[q for q in {v}]", inner),
                st.builds(lambda v: f"(q := {v})", inner),
                st.builds(lambda v: f"sum(*{v})", inner),
                st.builds(lambda v: f"sum(**{v})", inner),
                st.builds(lambda v: f"f'{{{v}}}'", inner),
                st.builds(lambda v: f"{{{v}: 1}}", inner),
                st.builds(lambda v: f"[{v}] * 10**9", inner),
                st.builds(lambda v: f"'a' * {v}", inner),
                st.sampled_from(["__import__('os')", "__builtins__", "zz", "1j", "b'x'", "0x" + "f" * 20]),
            ]
        return st.one_of(atoms, st.one_of(*options))

    # st.deferred, not st.recursive: the repr of a st.recursive strategy whose extension uses its argument
    # several times grows exponentially (hypothesis warned of a 16 MB repr; an earlier version ran out of memory).
    expression = st.deferred(grammar)
    return expression


# ----------------------------------------------------------------------------------------------
# Properties


@FUZZ
@given(text=st.text(max_size=120), env=envs)
def test_random_text(text: str, env: dict[str, Any]) -> None:
    _run_checked(text, env)


@FUZZ
@given(text=st.text(st.characters(codec=None, exclude_categories=()), max_size=40), env=envs)
def test_random_text_with_surrogates_and_controls(text: str, env: dict[str, Any]) -> None:
    _run_checked(text, env)


@FUZZ
@given(text=st.text(alphabet=EXPRESSION_ALPHABET, max_size=40), env=envs)
def test_random_text_from_expression_characters(text: str, env: dict[str, Any]) -> None:
    _run_checked(text, env)


@FUZZ
@given(text=token_soups, env=envs)
def test_token_soup(text: str, env: dict[str, Any]) -> None:
    _run_checked(text, env)


@FUZZ
@given(text=expressions(hostile=False), env=envs)
def test_well_formed_expressions(text: str, env: dict[str, Any]) -> None:
    _run_checked(text, env)


@FUZZ
@given(text=expressions(hostile=True), env=envs)
def test_expressions_with_refused_constructs(text: str, env: dict[str, Any]) -> None:
    _run_checked(text, env)


def test_well_formed_strategy_mostly_produces_accepted_expressions() -> None:
    """Guards the strategy itself: if check() refused nearly everything, evaluation would go untested."""
    accepted = 0
    drawn = 0

    @settings(max_examples=60, deadline=None, database=None)
    @given(text=expressions(hostile=False))
    def count(text: str) -> None:
        nonlocal accepted, drawn
        drawn += 1
        accepted += check(text, CONTEXT).tree is not None

    count()
    assert accepted >= drawn // 4, (accepted, drawn)


@pytest.mark.parametrize("text", ["a ** b", "x[0](1)", "sum(a)(b)", "base(a, b)", "10 ** 10 ** 10",
                                  "prod([a, b], axis=0)", "a if b else zz"])
def test_examples_of_the_property(text: str) -> None:
    """Fixed inputs through the same property, including ones that only the second lock stops."""
    _run_checked(text, {name: 3 for name in BOUND})


def test_the_profiler_sees_foreign_code() -> None:
    """The check of the property is live: a table entry that is not a stub is reported."""
    checked = check("sum(a)", CONTEXT)
    calls = Calls()
    calls.table["sum"] = Path  # not a stub: its Python-level __new__ runs
    assert _evaluate_profiled(to_closure(checked.tree, calls.table), {"a": "."}, calls)
    stubs = Calls()
    assert _evaluate_profiled(to_closure(checked.tree, stubs.table), {"a": "."}, stubs) == []
    assert stubs.made == ["sum"]


@pytest.mark.parametrize("text", ["broadcast_to(a, a)", "tile(a, [2, 3])", "repeat(a, 2)", "one_hot(a, 3)",
                                  "reshape(a, [1, 2])", "arange(a, b, x)", "zeros([a, 2])", "eye(a, b)",
                                  "pad(a, [[1, 2]])", "extract_patches(a, 2)", "segment_sum(a, b, num_segments=3)"])
def test_size_guard_of_size_making_functions_runs_only_the_evaluator(text: str) -> None:
    """The size guard runs before every size-making function; hypothesis found broadcast_to once."""
    _run_checked(text, {name: 0 for name in BOUND})
