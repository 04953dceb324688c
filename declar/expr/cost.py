"""What an expression would cost, found before it runs: constant folding and constant sizes.

A layer's `call` or a spec function runs only inside Keras, so a runaway constant there
(``10 ** 10 ** 10``, ``2 ** 99999999``) or a constant size (``tile(x, [1, 10**12])``,
``reshape(x, [10**12, 10**12])``, ``x[0:10**12]``) would otherwise pass `declar validate` and fail
(or allocate) at build or run. `cost_problems` evaluates every constant subexpression with the
same guarded operations the closure uses (so the `Limits.max_power_bits` guard trips here, at
the operator's column), refuses integer constants that meet a tensor but do not fit in 64 bits,
and checks constant sizes and slice bounds against `Limits.max_variable_elements`. What depends
on tensors is checked again at build from static shapes (`declar.expr.evaluate`).

Example:
    >>> from declar.expr.parse import Context, check
    >>> [p.message for p in cost_problems(check("inputs * 10 ** 10 ** 10", Context(names={"inputs"})))]
    ['the result would have about 40,000,000,000 bits, over the limit of 4,096']
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from typing import Any

from declar.expr.evaluate import ExpressionError, _guarded
from declar.expr.ops import TENSOR_OPS
from declar.expr.parse import Checked, ExprProblem
from declar.expr.sizes import SIZE_ARGUMENT, SIZED, per_example, too_many
from declar.limits import DEFAULT_LIMITS, Limits

_UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "<unknown>"})()  # known only when it runs
_INT_BITS = 63  # what an int64 tensor holds
_UNARY = {ast.USub: operator.neg, ast.UAdd: lambda v: v, ast.Not: operator.not_}
LIMIT_CODE = "expression-limit"


def cost_problems(checked: Checked, limits: Limits = DEFAULT_LIMITS) -> tuple[ExprProblem, ...]:
    """Problems of a checked expression's constant parts (empty when the expression was refused)."""
    return fold(checked, limits)[0]


def fold(checked: Checked, limits: Limits = DEFAULT_LIMITS, constants: Mapping[str, Any] | None = None
         ) -> tuple[tuple[ExprProblem, ...], Any, bool]:
    """(problems, value, whether the value is a constant) of a checked expression, whose names in
    ``constants`` have those values (a program's let names that are constants: ``n: "10**12"``).

    Example:
        >>> from declar.expr.parse import Context, check
        >>> fold(check("n * 2", Context(names={"n"})), constants={"n": 21})[1:]
        (42, True)
    """
    if checked.tree is None:
        return (), _UNKNOWN, False
    source = checked.text.replace("\n", " ")
    folder = _Folder(limits, source.strip().encode("utf-8"), len(source) - len(source.lstrip()), constants)
    value = folder.value(checked.tree.body)
    return tuple(sorted(folder.problems, key=lambda p: p.col)), value, value is not _UNKNOWN


class _Folder:
    def __init__(self, limits: Limits, encoded: bytes, offset: int, constants: Mapping[str, Any] | None = None):
        self.limits = limits
        self.encoded = encoded  # ast counts columns in UTF-8 bytes
        self.offset = offset
        self.constants = constants or {}
        self.problems: list[ExprProblem] = []

    def refuse(self, node: ast.AST, message: str, hint: str = "") -> None:
        byte_col = getattr(node, "col_offset", 0)
        col = len(self.encoded[:byte_col].decode("utf-8", "ignore")) + 1 + self.offset
        self.problems.append(ExprProblem(col, message, hint, LIMIT_CODE))

    def value(self, node: ast.AST) -> Any:
        """The constant value of ``node``, or _UNKNOWN; lists keep None where an item is unknown."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.constants.get(node.id, _UNKNOWN)
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand)
            if operand is _UNKNOWN or isinstance(operand, (str, list, tuple)) or type(node.op) not in _UNARY:
                return _UNKNOWN
            try:
                return _UNARY[type(node.op)](operand)
            except (TypeError, ArithmeticError, ValueError) as err:  # -None: fails when it runs too
                self.refuse(node, f"{type(err).__name__}: {err}")
                return _UNKNOWN
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(e) for e in node.elts]
            items = [None if item is _UNKNOWN else item for item in items]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Subscript):
            self.escape(node.value, self.value(node.value))
            self.index(node.slice)
            return _UNKNOWN
        if isinstance(node, ast.Call):
            return self.call(node)
        for child in ast.iter_child_nodes(node):  # names, comparisons, and/or, conditionals: run-time values
            self.escape(child, self.value(child))
        return _UNKNOWN

    def binop(self, node: ast.BinOp) -> Any:
        left, right = self.value(node.left), self.value(node.right)
        if left is _UNKNOWN or right is _UNKNOWN or isinstance(left, (list, tuple)) or isinstance(right, (list, tuple)):
            self.escape(node.left, left)
            self.escape(node.right, right)
            return _UNKNOWN
        try:
            return _guarded(type(node.op), node.col_offset + 1, self.limits)(left, right)
        except ExpressionError as err:
            self.refuse(node, str(err), "raise Limits.max_power_bits" if "bits" in str(err) else "")
            return _UNKNOWN
        except (TypeError, ArithmeticError, ValueError) as err:  # None + 1: fails when it runs too
            self.refuse(node, f"{type(err).__name__}: {err}")
            return _UNKNOWN

    def escape(self, node: ast.AST, value: Any) -> None:
        """A constant that meets a tensor: it must fit the tensor's integers."""
        if isinstance(value, (list, tuple)):
            elements = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node] * len(value)
            for item_node, item in zip(elements, value, strict=False):
                self.escape(item_node, item)
        elif isinstance(value, complex):  # (-1) ** 0.5
            self.refuse(node, f"the constant {value!r} is a complex number, which the expression language has not")
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _INT_BITS:
            shown = f"{value:,}" if value.bit_length() < 200 else f"about 2**{value.bit_length() - 1}"
            self.refuse(node, f"the constant {shown} does not fit in 64 bits, so no tensor can hold it",
                        "write it as a float (e.g. 1e30) if it is meant as a number")

    def index(self, node: ast.AST) -> None:
        """Slice bounds and indices: none can be beyond the largest size a tensor may have."""
        parts = node.elts if isinstance(node, ast.Tuple) else [node]
        for part in parts:
            bounds = [b for b in (part.lower, part.upper, part.step) if b is not None] if isinstance(
                part, ast.Slice) else [part]
            for bound in bounds:
                value = self.value(bound)
                limit = self.limits.max_variable_elements
                if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limit:
                    shown = f"{value:,}" if value.bit_length() < 200 else f"about 2**{value.bit_length() - 1}"
                    self.refuse(bound, f"index {shown} is beyond the largest size a tensor may have ({limit:,})",
                                "raise Limits.max_variable_elements if this is intended")
                else:
                    self.escape(bound, value)

    def call(self, node: ast.Call) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        params = TENSOR_OPS[name].params if name in TENSOR_OPS else ()
        bound: dict[str, Any] = {}
        nodes: dict[str, ast.AST] = {}
        for i, arg in enumerate(node.args):
            key = params[i] if i < len(params) else f"*{i}"
            bound[key], nodes[key] = self.value(arg), arg
        for kw in node.keywords:
            if kw.arg is not None:
                bound[kw.arg], nodes[kw.arg] = self.value(kw.value), kw.value
        if name in SIZED:
            elements = per_example(name, {k: v for k, v in bound.items() if v is not _UNKNOWN})
            if elements is not None and elements > self.limits.max_variable_elements:
                at = nodes.get(SIZE_ARGUMENT[name], node)
                self.refuse(at, too_many(f"{name}()", elements, self.limits.max_variable_elements),
                            "raise Limits.max_variable_elements if this is intended; inputs count as one element "
                            "here, the build checks the real sizes")
                return _UNKNOWN
        for key, value in bound.items():
            if not isinstance(value, str):
                self.escape(nodes[key], value)
        return _UNKNOWN
