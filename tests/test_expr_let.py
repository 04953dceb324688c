"""Local names in expressions: ``call: {let: {name: expr, ...}, return: expr}``.

Each let name is computed once per call, in order, and may use the earlier ones; mistakes are
reported at validate at the character inside the string they are in; a layer written with let
is the same model as the layer written by hand in Keras.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twins import assert_same_model

import declar
from declar.expr.parse import Context
from declar.expr.program import check_program, program_closure, program_texts

HEAD = "declar: 2\nname: m\ninputs:\n  x: {shape: [4]}\nlayers:\n  T:\n    extends: Layer\n"
TAIL = "model:\n  - T: {}\n"


def _located(body: str) -> list[str]:
    """``line:col: message`` of every problem of a spec whose type T has ``body`` (lines 8 on)."""
    return [f"{p.line}:{p.col}: {p.message}" for p in declar.validate(HEAD + body + TAIL)]


# -- evaluation --------------------------------------------------------------------------------


def test_each_let_is_computed_once_in_order() -> None:
    made: list[str] = []

    def f(x):
        made.append("f")
        return x + 1

    program = check_program({"let": {"h": "f(a)", "g": "h * 10"}, "return": "h + g + h"},
                            Context(names={"a"}, functions={"f": _signature("f")}))
    assert program.ok
    assert program_closure(program, {"f": f})({"a": 1}) == 2 + 20 + 2
    assert made == ["f"]


def test_the_callers_environment_is_not_changed() -> None:
    program = check_program({"let": {"h": "a + 1"}, "return": "h"}, Context(names={"a"}))
    env = {"a": 1}
    assert program_closure(program, {})(env) == 2
    assert env == {"a": 1}


def test_a_plain_string_is_a_program_without_let() -> None:
    program = check_program("a * 3", Context(names={"a"}))
    assert program.ok and program.steps == ()
    assert program_closure(program, {})({"a": 2}) == 6
    assert program_texts("a * 3") == [((), "a * 3")]


def test_a_program_with_problems_has_no_closure() -> None:
    program = check_program({"let": {"h": "zz"}, "return": "h"}, Context(names={"a"}))
    assert not program.ok
    with pytest.raises(ValueError, match="unknown name 'zz'"):
        program_closure(program, {})


def test_names_and_functions_used_are_reported() -> None:
    program = check_program({"let": {"h": "relu(a)"}, "return": "h + exp(b)"}, Context(names={"a", "b", "c"}))
    assert program.names == {"a", "b"}  # let names are not the context's
    assert program.functions == {"relu", "exp"}


# -- validation, located -----------------------------------------------------------------------


def test_a_later_let_name_is_not_yet_bound() -> None:
    body = '    call:\n      let:\n        h: "g + 1"\n        g: "inputs"\n      return: h\n'
    problems = declar.validate(HEAD + body + TAIL)
    assert [f"{p.line}:{p.col}" for p in problems] == ["10:13"]
    assert problems[0].message == "unknown name 'g' in call of T"
    assert problems[0].hint == "'g' is defined later in let; a let name can use only those before it"


def test_an_unknown_name_in_return_gets_did_you_mean() -> None:
    body = '    call:\n      let: {hidden: "inputs * 2"}\n      return: "hiden + 1"\n'
    problems = declar.validate(HEAD + body + TAIL)
    assert [f"{p.line}:{p.col}" for p in problems] == ["10:16"]
    assert "unknown name 'hiden'" in problems[0].message and "did you mean 'hidden'?" in problems[0].hint


def test_a_refused_construct_inside_a_let_is_located_at_its_character() -> None:
    body = '    call:\n      let:\n        h: "inputs + inputs.__class__"\n      return: h\n'
    assert _located(body) == ["10:22: attribute access (.__class__) is not allowed"]


def test_a_block_scalar_let_is_located_on_its_own_line() -> None:
    body = "    call:\n      let:\n        h: |\n          inputs *\n            sqrt(inputs, 2)\n      return: h\n"
    assert _located(body) == ["12:13: sqrt() takes at most 1 positional arguments, got 2"]


def test_a_let_name_may_not_shadow_a_bound_name_or_a_function() -> None:
    body = '    call:\n      let: {inputs: "1", relu: "2"}\n      return: inputs\n'
    problems = declar.validate(HEAD + body + TAIL)
    assert [(p.line, p.col, p.message) for p in problems] == [
        (9, 13, "let name 'inputs' is already bound here"),
        (9, 26, "let name 'relu' is a function of the table")]


def test_a_let_name_must_be_an_identifier() -> None:
    body = '    call:\n      let: {2h: "inputs"}\n      return: inputs\n'
    assert _located(body) == ["9:13: '2h' is not a valid name here"]


def test_constant_costs_are_checked_inside_let() -> None:
    body = '    call:\n      let: {big: "tile(inputs, [1, 10**12])"}\n      return: big\n'
    [problem] = _located(body)
    # At the size list; at validate an input counts as one element (the build checks the real sizes).
    assert problem.startswith("9:32: tile() would make 1,000,000,000,000 elements per example")


def test_a_constant_let_name_is_seen_through_by_the_cost_check() -> None:
    body = '    call:\n      let: {n: "10**6", m: "n * 10**6"}\n      return: "tile(inputs, [1, m])"\n'
    [problem] = _located(body)
    assert problem.startswith("10:29: tile() would make 1,000,000,000,000 elements per example")


def test_a_let_value_must_be_an_expression_string() -> None:
    body = "    call:\n      let: {h: [1, 2]}\n      return: h\n"
    [problem] = _located(body)
    assert problem.startswith("9:16: h: expected string, got array")


# -- a real layer ------------------------------------------------------------------------------

GATED = """declar: 2
name: gated
seed: 3
inputs:
  x: {shape: [6]}
layers:
  GatedResidual:
    description: h = x W + b; out = h * sigmoid(h V) + x (a gated residual unit).
    extends: Layer
    params:
      units: {type: integer}
    variables:
      w: {shape: "[input_shape[-1], units]"}
      b: {shape: "[units]", initializer: zeros}
      v: {shape: "[units, units]"}
    call:
      let:
        h: matmul(inputs, w) + b
        gate: sigmoid(matmul(h, v))
      return: h * gate + inputs
model:
  - GatedResidual: {units: 6}
  - Dense: {units: 2}
"""


class GatedResidual(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units))
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(shape=(self.units, self.units))

    def call(self, inputs):
        h = keras.ops.matmul(inputs, self.w) + self.b
        gate = keras.ops.sigmoid(keras.ops.matmul(h, self.v))
        return h * gate + inputs


def test_a_layer_written_with_let_is_the_layer_written_by_hand(tmp_path) -> None:
    spec = tmp_path / "gated.yaml"
    spec.write_text(GATED)
    twin = keras.Sequential([keras.Input((6,)), GatedResidual(6), keras.layers.Dense(2)])
    model = assert_same_model(spec, twin)
    x = np.random.default_rng(0).random((5, 6)).astype("float32")
    path = tmp_path / "gated.keras"
    declar.save(model, str(path))
    assert np.array_equal(keras.models.load_model(str(path)).predict(x, verbose=0), model.predict(x, verbose=0))


def _signature(name: str):
    from declar.expr.ops import Signature

    return Signature(name, ("x",), 1, None, "test")


# -- never raises ---------------------------------------------------------------------------------

_TEXTS = st.one_of(st.sampled_from(["a", "h + 1", "g", "zz", "a.__class__", "1 +", "tile(a, [1, 10**12])", ""]),
                   st.text(max_size=12), st.integers(), st.none(), st.lists(st.integers(), max_size=2))
_PROGRAMS = st.one_of(
    _TEXTS,
    st.dictionaries(st.sampled_from(["let", "return", "retrun", "x"]),
                    st.one_of(_TEXTS, st.dictionaries(st.one_of(st.sampled_from(["h", "g", "a", "2h", "__x", "relu",
                                                                                  "if"]), st.text(max_size=4)),
                                                      _TEXTS, max_size=4)), max_size=3))


@settings(max_examples=300, deadline=None)
@given(value=_PROGRAMS)
def test_check_program_never_raises_and_every_problem_is_located(value) -> None:
    program = check_program(value, Context(names={"a"}), costs=True)
    assert program.ok or program.problems
    for found in program.problems:
        assert isinstance(found.where, tuple) and found.problem.message and found.problem.col >= 1
    if program.ok:
        assert program_closure(program, {}) is not None
