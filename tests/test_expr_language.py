"""The expression language on real values: accepted expressions give what numpy gives.

Tensor expressions run through ``keras_functions()`` on the TensorFlow backend, in eager mode, on
tiny arrays; shape expressions run through the plain-Python table. Every case compares the result
with the equivalent numpy computation, values and dtype kind.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from declar.expr.evaluate import ExpressionError, shape_functions, to_closure
from declar.expr.ops import OPS, SHAPE_FUNCTIONS
from declar.expr.parse import Context, check

keras = pytest.importorskip("keras")

from declar.keras.ops import keras_functions  # noqa: E402  (after KERAS_BACKEND is set)

# ----------------------------------------------------------------------------------------------
# Values

X = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.5]], dtype="float32")
Y = np.array([[0.5, 2.0, -1.0], [3.0, -0.25, 4.0]], dtype="float32")
M = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], dtype="float32")
V = np.array([1.0, 10.0, 100.0], dtype="float32")
I = np.array([[7, -3, 5], [-8, 9, 4]], dtype="int32")  # noqa: E741
LABELS = np.array([0, 3, 1], dtype="int32")
INPUTS = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype="float32")
W = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [0.9, 1.0, 1.1, 1.2]], dtype="float32")
B = np.array([1.0, -1.0, 0.5, 0.0], dtype="float32")
Y_TRUE = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype="float32")
Y_PRED = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]], dtype="float32")

ENV: dict[str, Any] = {
    "x": X, "y": Y, "m": M, "v": V, "i": I, "labels": LABELS, "inputs": INPUTS, "w": W, "b": B,
    "y_true": Y_TRUE, "y_pred": Y_PRED, "flag": True, "off": False,
}
CONTEXT = Context(names=set(ENV))


def _softmax(a: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# (expression, numpy equivalent). Numpy gets plain arrays; Keras gets tensors converted from them.
CASES: list[tuple[str, Callable[[], Any]] | Any] = [
    # arithmetic
    ("x + y", lambda: X + Y),
    ("x - y", lambda: X - Y),
    ("x * y", lambda: X * Y),
    ("x / 2.0", lambda: X / 2.0),
    ("1.0 - x", lambda: 1.0 - X),
    ("2 * x - 1", lambda: 2 * X - 1),
    ("x @ m", lambda: X @ M),
    ("i // 3", lambda: I // 3),
    ("i % 3", lambda: I % 3),
    ("x % 2.0", lambda: X % 2.0),
    ("x ** 2", lambda: X**2),
    ("abs(x) ** 0.5", lambda: np.abs(X) ** 0.5),
    ("-x", lambda: -X),
    ("-(x - y) * 3", lambda: -(X - Y) * 3),
    ("+x", lambda: +X),  # identity: TensorFlow tensors have no __pos__
    ("-(+x)", lambda: -X),
    # comparisons
    ("x > y", lambda: X > Y),
    ("x <= 0", lambda: X <= 0),
    ("x == y", lambda: X == Y),
    ("x != 1.0", lambda: X != 1.0),
    ("logical_and(x > 0, y > 0)", lambda: np.logical_and(X > 0, Y > 0)),
    # subscripts and slices
    ("x[0]", lambda: X[0]),
    ("x[:, 1:]", lambda: X[:, 1:]),
    ("x[-1, 0]", lambda: X[-1, 0]),
    ("x[1, ::-1]", lambda: X[1, ::-1]),
    ("x[0][1] * 2", lambda: X[0][1] * 2),
    ("x[:, :2] @ m[:2]", lambda: X[:, :2] @ M[:2]),
    # calls, keyword arguments
    ("sum(x, axis=1)", lambda: np.sum(X, axis=1)),
    ("mean(x, axis=-1, keepdims=True)", lambda: np.mean(X, axis=-1, keepdims=True)),
    ("max(x, axis=0)", lambda: np.max(X, axis=0)),
    ("argmax(x, axis=-1)", lambda: np.argmax(X, axis=-1)),
    ("where(x > 0, x, y)", lambda: np.where(X > 0, X, Y)),
    ("where(x > 0, x, 0.0)", lambda: np.where(X > 0, X, 0.0)),
    ("concatenate([x, y], axis=-1)", lambda: np.concatenate([X, Y], axis=-1)),
    ("stack([x, y], axis=0)", lambda: np.stack([X, Y], axis=0)),
    ('cast(x, "int32")', lambda: X.astype("int32")),
    ("reshape(x, [3, 2])", lambda: X.reshape(3, 2)),
    ("transpose(x)", lambda: X.T),
    ("expand_dims(v, 0) * x", lambda: V[None, :] * X),
    ("clip(x, -1.0, 2.0)", lambda: np.clip(X, -1.0, 2.0)),
    ("relu(x)", lambda: np.maximum(X, 0.0)),
    ("maximum(x, y)", lambda: np.maximum(X, Y)),
    ("exp(-square(x)) * 0.5", lambda: np.exp(-np.square(X)) * 0.5),
    ("softmax(x, axis=-1)", lambda: _softmax(X, axis=-1)),
    ('einsum("ij,jk->ik", x, m)', lambda: np.einsum("ij,jk->ik", X, M)),
    ("tensordot(x, m, axes=1)", lambda: np.tensordot(X, M, axes=1)),
    ("one_hot(labels, 4)", lambda: np.eye(4, dtype="float32")[LABELS]),
    # conditional expression on a Python bool
    ("x if flag else -x", lambda: X),
    ("x if off else -x", lambda: -X),
    ("y if flag and not off else x", lambda: Y),
    # the Keras guide's computations
    ("matmul(inputs, w) + b", lambda: INPUTS @ W + B),
    ("sum(squared_difference(y_pred, y_true) / 10.0, axis=1)", lambda: np.sum((Y_PRED - Y_TRUE) ** 2 / 10, axis=1)),
    ("mean(y_pred)", lambda: np.mean(Y_PRED)),
]


@pytest.fixture(scope="module")
def functions() -> dict[str, Callable[..., Any]]:
    assert keras.backend.backend() == "tensorflow"
    return keras_functions()


@pytest.fixture(scope="module")
def tensors() -> dict[str, Any]:
    return {k: keras.ops.convert_to_tensor(v) if isinstance(v, np.ndarray) else v for k, v in ENV.items()}


def _case_id(case: Any) -> str:
    return case[0] if isinstance(case, tuple) else case.id


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(("text", "numpy_result"), CASES, ids=[_case_id(c) for c in CASES])
def test_expression_matches_numpy(text: str, numpy_result: Callable[[], Any], functions: dict[str, Any],
                                  tensors: dict[str, Any]) -> None:
    checked = check(text, CONTEXT)
    assert checked.problems == (), [p.message for p in checked.problems]
    assert checked.tree is not None
    got = np.asarray(keras.ops.convert_to_numpy(to_closure(checked.tree, functions)(tensors)))
    want = np.asarray(numpy_result())
    assert got.shape == want.shape
    assert got.dtype.kind == want.dtype.kind, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_checked_names_are_the_names_used() -> None:
    checked = check("matmul(inputs, w) + b", CONTEXT)
    assert checked.names == {"inputs", "w", "b"}


def test_function_table_is_bound_to_keras_ops(functions: dict[str, Any]) -> None:
    assert set(functions) == set(OPS)
    assert functions["matmul"] is keras.ops.matmul
    assert functions["sum"] is keras.ops.sum


# ----------------------------------------------------------------------------------------------
# Ellipsis: not part of the language, refused with a message pointing at it


def test_ellipsis_subscript_is_refused_with_a_message() -> None:
    checked = check("x[..., -1]", CONTEXT)
    assert checked.tree is None
    assert len(checked.problems) == 1
    problem = checked.problems[0]
    assert "ellipsis" in problem.message
    assert problem.col == 3


# ----------------------------------------------------------------------------------------------
# Calls checked against the signatures of the table


@pytest.mark.parametrize(("text", "fragment"), [
    ("sum(x, axes=1)", "no argument 'axes'"),
    ("sum(x, x=1)", "twice"),
    ("where()", "missing argument 'condition'"),
    ("cast(x)", "missing argument 'dtype'"),
    ("negative(x, y)", "at most 1 positional"),
    ("matmul(x)", "missing argument 'x2'"),
])
def test_bad_arguments_are_refused(text: str, fragment: str) -> None:
    checked = check(text, CONTEXT)
    assert checked.tree is None
    assert [p.code for p in checked.problems] == ["expression-arguments"]
    assert fragment in checked.problems[0].message


def test_varargs_function_takes_any_number_of_operands(functions: dict[str, Any], tensors: dict[str, Any]) -> None:
    checked = check('einsum("ij,jk,k->i", x, m, ones_like(m[0]))', CONTEXT)
    assert checked.tree is not None
    got = keras.ops.convert_to_numpy(to_closure(checked.tree, functions)(tensors))
    np.testing.assert_allclose(got, np.einsum("ij,jk,k->i", X, M, np.ones(2, "float32")), rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Shape expressions: plain Python on small integers

SHAPE_ENV = {"input_shape": (None, 7, 4), "units": 16, "a": 3, "b": 5}
SHAPE_CONTEXT = Context(names=set(SHAPE_ENV), functions=SHAPE_FUNCTIONS, kind="shape")


@pytest.mark.parametrize(("text", "expected"), [
    ("[input_shape[-1], units]", [4, 16]),
    ("max(a, b)", 5),
    ("min(a, b)", 3),
    ("prod([2, 3])", 6),
    ("prod(input_shape[1:])", 28),
    ("[prod(input_shape[1:]), units // 2]", [28, 8]),
    ("(input_shape[-1], units * 2 + 1)", (4, 33)),
    ("units if a < b else a", 16),
])
def test_shape_expression(text: str, expected: Any) -> None:
    checked = check(text, SHAPE_CONTEXT)
    assert checked.problems == (), [p.message for p in checked.problems]
    result = to_closure(checked.tree, shape_functions())(SHAPE_ENV)
    assert result == expected
    assert type(result) is type(expected)


def test_shape_functions_match_their_table() -> None:
    assert set(shape_functions()) == set(SHAPE_FUNCTIONS)


def test_tensor_functions_are_not_shape_functions() -> None:
    checked = check("sum(input_shape)", SHAPE_CONTEXT)
    assert [p.code for p in checked.problems] == ["unknown-function"]


def test_prod_refuses_non_integers() -> None:
    checked = check("prod(a)", SHAPE_CONTEXT)
    with pytest.raises(ExpressionError):
        to_closure(checked.tree, shape_functions())(SHAPE_ENV)


# ----------------------------------------------------------------------------------------------
# Columns of problems: 1-based, counted in characters of the text as written


def test_refusal_column_counts_leading_whitespace() -> None:
    assert check("   x.y", CONTEXT).problems[0].col == 4


def test_syntax_error_column_counts_leading_whitespace() -> None:
    # "sum(x,, 1)" has its error at column 7; with three leading spaces it is column 10.
    assert check("sum(x,, 1)", CONTEXT).problems[0].col == 7
    assert check("   sum(x,, 1)", CONTEXT).problems[0].col == 10


def test_refusal_column_counts_characters_not_bytes() -> None:
    context = Context(names={"x", "é"})
    assert check("x + x.y", context).problems[0].col == 5
    assert check("é + x.y", context).problems[0].col == 5


# ----------------------------------------------------------------------------------------------
# Validation output stays clean: the parser's own warnings never reach the user


@pytest.mark.parametrize("text", [
    "1if flag else 2",  # "invalid decimal literal" SyntaxWarning
    pytest.param('cast(x, "\\d")', id="invalid-escape"),  # a DeprecationWarning before Python 3.12
])
def test_check_emits_no_warnings(text: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check(text, CONTEXT)
    assert [str(w.message) for w in caught] == []
