"""Turning a checked expression tree into a closure: no eval, exec or compile, ever.

Each allow-listed node becomes a small Python closure; the functions come from an explicit table
given by the caller (``keras.ops`` for layers and losses, plain Python for shapes). Operations on
plain Python numbers are guarded before they compute, so ``10 ** 10 ** 10`` fails at once instead
of running for minutes; operations on tensors go straight to the tensor's operators, so inside
``fit``/``predict`` the traced graph is exactly what hand-written keras.ops code gives. Tensor
results are held to `Limits.max_variable_elements` per example: size-making functions (`tile`,
`one_hot`, ...) are checked from their arguments' static shapes before they run
(`declar.expr.sizes`), every other result right after, which at build (symbolic tensors) is still
before anything is allocated.

Example:
    >>> from declar.expr.parse import Context, check
    >>> tree = check("a * 2 + b", Context(names={"a", "b"})).tree
    >>> to_closure(tree, {})({"a": 3, "b": 1})
    7
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from declar.errors import BuildError
from declar.expr.ops import TENSOR_OPS
from declar.expr.sizes import SIZED, batch_of, capped_product, per_example, static_shape, too_many
from declar.limits import DEFAULT_LIMITS, Limits, current_limits

Env = Mapping[str, Any]
Closure = Callable[[Env], Any]


class ExpressionError(BuildError):
    """An expression failed while evaluating (a guard tripped, or a value was unusable); ``col`` is
    the 1-based column in the expression where it failed.

    It lives here, not in `declar.errors`, because evaluating runs no Python code outside this
    module (tests/test_expr_properties.py checks it): raising one runs only the C constructor, and
    its `problems` are made when they are asked for.
    """

    code = "expression-failed"

    def __init__(self, message: str, col: int = 1):
        Exception.__init__(self, message)
        self.col = col


_PLAIN_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.MatMult: operator.matmul,
}
_COMPARE_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_UNARY_OPS: dict[type, Callable[[Any], Any]] = {
    # Unary + is the identity: TensorFlow tensors have no __pos__.
    ast.USub: operator.neg, ast.UAdd: lambda value: value, ast.Not: operator.not_,
}


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or isinstance(value, bool)


def _guarded(op: type, col: int, limits: Limits) -> Callable[[Any, Any], Any]:
    if op not in _PLAIN_OPS:  # the checker refuses these first; this is the second lock
        raise ExpressionError(f"operator {op.__name__} is not allowed", col)
    plain = _PLAIN_OPS[op]

    def apply(left: Any, right: Any) -> Any:
        if isinstance(left, (list, tuple, str)) or isinstance(right, (list, tuple, str)):
            raise ExpressionError("arithmetic on a list, tuple or string is not allowed", col)
        if _is_number(left) and _is_number(right):
            bits = 0
            if op is ast.Pow and isinstance(left, int) and isinstance(right, int) and right > 0:
                bits = max(abs(left), 2).bit_length() * right
            elif op is ast.Mult and isinstance(left, int) and isinstance(right, int):
                bits = abs(left).bit_length() + abs(right).bit_length()
            if bits > limits.max_power_bits:
                raise ExpressionError(f"the result would have about {bits:,} bits, over the limit of "
                                      f"{limits.max_power_bits:,}", col)
            try:
                return plain(left, right)
            except (ArithmeticError, ValueError, TypeError) as err:
                raise ExpressionError(f"{type(err).__name__}: {err}", col) from None
        return plain(left, right)

    return apply


def to_closure(tree: ast.Expression, functions: Mapping[str, Callable[..., Any]],
               limits: Limits | None = None) -> Closure:
    """Build the closure of a checked tree; ``functions`` maps each callable name to its code.

    Without ``limits``, those of the build or load in progress apply (`declar.limits.current_limits`).
    """
    return _Builder(functions, limits or current_limits.get()).build(tree.body)


_LIMIT_HINT = "raise Limits.max_variable_elements"


def _checked_size(result: Any, env: Env, limits: Limits, text: str, what: str, col: int) -> Any:
    """Refuse a tensor result over the element limit per example (a no-op on plain numbers).

    At build the tensors are symbolic, so this runs before anything is allocated; it catches what
    the size rules cannot predict (``expand_dims(x, 2) * expand_dims(x, 1)``, ``matmul``, ``einsum``).
    """
    shape = static_shape(result) if hasattr(result, "shape") else None
    if not shape:
        return result
    elements = -(-(capped_product(shape) or 0) // batch_of(env))
    if elements > limits.max_variable_elements:
        raise ExpressionError(f"{text}: {too_many(what, elements, limits.max_variable_elements)} "
                              f"({_LIMIT_HINT})", col)
    return result


def _estimate(name: str, args: dict[str, Any], batch: int) -> int | None:
    try:
        return per_example(name, args, batch)
    except Exception:  # an argument no rule foresaw: no estimate, the result is still checked
        return None


def _short(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 80 else text[:77] + "..."


class _Builder:
    def __init__(self, functions: Mapping[str, Callable[..., Any]], limits: Limits):
        self.functions = functions
        self.limits = limits

    def build(self, node: ast.AST) -> Closure:
        method = getattr(self, f"build_{type(node).__name__}", None)
        if method is None:  # the checker refuses these first; this is the second lock
            raise ExpressionError(f"{type(node).__name__} is not allowed", getattr(node, "col_offset", 0) + 1)
        return method(node)

    def build_Constant(self, node: ast.Constant) -> Closure:
        value = node.value
        return lambda env: value

    def build_Name(self, node: ast.Name) -> Closure:
        return operator.itemgetter(node.id)

    def build_BinOp(self, node: ast.BinOp) -> Closure:
        left, right = self.build(node.left), self.build(node.right)
        apply = _guarded(type(node.op), node.col_offset + 1, self.limits)
        limits, col, text = self.limits, node.col_offset + 1, _short(node)
        symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
                  ast.Pow: "**", ast.MatMult: "@"}.get(type(node.op), "?")

        def binop(env: Env) -> Any:
            a, b = left(env), right(env)
            result = apply(a, b)
            if hasattr(result, "shape"):  # broadcasting can multiply sizes: (n, 1) * (1, n)
                return _checked_size(result, env, limits, text, f"operator {symbol}", col)
            return result
        return binop

    def build_UnaryOp(self, node: ast.UnaryOp) -> Closure:
        if type(node.op) not in _UNARY_OPS:
            raise ExpressionError(f"{type(node.op).__name__} is not allowed", node.col_offset + 1)
        operand, apply = self.build(node.operand), _UNARY_OPS[type(node.op)]
        return lambda env: apply(operand(env))

    def build_Compare(self, node: ast.Compare) -> Closure:
        first = self.build(node.left)
        rest = [(_COMPARE_OPS[type(op)], self.build(c)) for op, c in zip(node.ops, node.comparators, strict=False)]
        if len(rest) == 1:
            (apply, right), = rest
            return lambda env: apply(first(env), right(env))

        def chain(env: Env) -> Any:
            left = first(env)
            for apply, right_closure in rest:
                right = right_closure(env)
                if not apply(left, right):
                    return False
                left = right
            return True

        return chain

    def build_BoolOp(self, node: ast.BoolOp) -> Closure:
        parts = [self.build(v) for v in node.values]
        if isinstance(node.op, ast.And):
            def both(env: Env) -> Any:
                result = None
                for part in parts:
                    result = part(env)
                    if not result:
                        return result
                return result
            return both

        def either(env: Env) -> Any:
            result = None
            for part in parts:
                result = part(env)
                if result:
                    return result
            return result
        return either

    def build_IfExp(self, node: ast.IfExp) -> Closure:
        test, body, orelse = self.build(node.test), self.build(node.body), self.build(node.orelse)
        return lambda env: body(env) if test(env) else orelse(env)

    def build_Subscript(self, node: ast.Subscript) -> Closure:
        value, index = self.build(node.value), self.build(node.slice)
        col = node.col_offset + 1

        def subscript(env: Env) -> Any:
            try:
                return value(env)[index(env)]
            except (IndexError, KeyError, TypeError) as err:
                raise ExpressionError(f"bad subscript: {err}", col) from None
        return subscript

    def build_Slice(self, node: ast.Slice) -> Closure:
        parts = [self.build(p) if p is not None else (lambda env: None) for p in (node.lower, node.upper, node.step)]
        lower, upper, step = parts
        return lambda env: slice(lower(env), upper(env), step(env))

    def build_Tuple(self, node: ast.Tuple) -> Closure:
        items = [self.build(e) for e in node.elts]
        return lambda env: tuple(item(env) for item in items)

    def build_List(self, node: ast.List) -> Closure:
        items = [self.build(e) for e in node.elts]
        return lambda env: [item(env) for item in items]

    def build_Call(self, node: ast.Call) -> Closure:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name not in self.functions:
            raise ExpressionError(f"unknown function '{name}'", node.col_offset + 1)
        function = self.functions[name]
        args = [self.build(a) for a in node.args]
        kwargs = {kw.arg: self.build(kw.value) for kw in node.keywords if kw.arg is not None}
        if name not in TENSOR_OPS:  # base(), shape functions: no tensor of their own making
            return lambda env: function(*[a(env) for a in args], **{k: v(env) for k, v in kwargs.items()})
        params, limits, col, text = TENSOR_OPS[name].params, self.limits, node.col_offset + 1, _short(node)

        def call(env: Env) -> Any:
            values = [a(env) for a in args]
            named = {k: v(env) for k, v in kwargs.items()}
            if name in SIZED:  # from the arguments' static shapes, before the operation allocates
                elements = _estimate(name, {**dict(zip(params, values, strict=False)), **named}, batch_of(env))
                if elements is not None and elements > limits.max_variable_elements:
                    message = too_many(f"{name}()", elements, limits.max_variable_elements)
                    raise ExpressionError(f"{text}: {message} ({_LIMIT_HINT})", col)
            result = function(*values, **named)
            return _checked_size(result, env, limits, text, f"{name}()", col)
        return call


def shape_functions(limits: Limits = DEFAULT_LIMITS) -> dict[str, Callable[..., Any]]:
    """The plain-Python functions of shape expressions (see ops.SHAPE_FUNCTIONS)."""
    def prod(sizes: Any) -> int:
        if not isinstance(sizes, (list, tuple)) or not all(isinstance(s, int) for s in sizes):
            raise ExpressionError("prod() takes a list of integer sizes")
        bits = sum(abs(s).bit_length() for s in sizes)
        if bits > limits.max_power_bits:  # checked before computing, like `*` and `**`
            raise ExpressionError(f"the product would have about {bits:,} bits, over the limit of "
                                  f"{limits.max_power_bits:,}")
        return math.prod(sizes)

    def larger(a: Any, b: Any) -> Any:
        return max(a, b)

    def smaller(a: Any, b: Any) -> Any:
        return min(a, b)

    return {"max": larger, "min": smaller, "prod": prod}
