"""Checked expression trees as Python source over keras.ops: rebuilt node by node, then unparsed.

Only the node types the checker allows are rebuilt; every name is looked up in a mapping to the
Python expression that holds it in the module (``self.w``, a local), every call in the function
table (``matmul`` -> ``keras.ops.matmul``), every literal re-created from its checked value, so
the output contains no text of the spec. Anything else raises `Unsupported`.

Example:
    >>> from declar.expr.parse import Context, check
    >>> from declar.expr.ops import OPS
    >>> tree = check("matmul(inputs, w) + b", Context(names={"inputs", "w", "b"}, functions=OPS)).tree
    >>> source(tree, {"inputs": "inputs", "w": "self.w", "b": "self.b"}, tensor_call)
    'keras.ops.matmul(inputs, self.w) + self.b'
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from declar.expr.ops import OPS, RANDOM_OPS

CallMaker = Callable[[str, list[ast.expr], list[ast.keyword]], ast.expr]


class Unsupported(ValueError):
    """A construct the ejected module cannot express (yet)."""


def attribute_path(path: str) -> ast.expr:
    """``keras.ops.matmul`` as an Attribute chain (each part an identifier of declar's own table).

    Example:
        >>> ast.unparse(attribute_path("keras.ops.matmul"))
        'keras.ops.matmul'
    """
    parts = path.split(".")
    node: ast.expr = ast.Name(parts[0], ast.Load())
    for part in parts[1:]:
        node = ast.Attribute(node, part, ast.Load())
    return node


def tensor_call(name: str, args: list[ast.expr], keywords: list[ast.keyword]) -> ast.expr:
    """A call of the tensor function table, as the layers' and ops' closures bind it (declar.keras.ops).

    Example:
        >>> ast.unparse(tensor_call("random_normal", [ast.Tuple([ast.Constant(2)], ast.Load())], []))
        'keras.random.normal((2,), seed=self.seed_generator)'
    """
    if name == "squared_difference":
        return ast.Call(attribute_path("keras.ops.square"),
                        [ast.Call(attribute_path("keras.ops.subtract"), args, keywords)], [])
    if name in RANDOM_OPS:
        seed = ast.keyword("seed", attribute_path("self.seed_generator"))
        if name == "random_bernoulli":
            return ast.Call(ast.Name("random_bernoulli", ast.Load()), args, [*keywords, seed])
        return ast.Call(attribute_path(f"keras.{RANDOM_OPS[name].keras_path}"), args, [*keywords, seed])
    if name == "base":
        return ast.Call(attribute_path("self.call_base"), args, keywords)
    if name not in OPS:
        raise Unsupported(f"function '{name}'")
    return ast.Call(attribute_path(f"keras.{OPS[name].keras_path}"), args, keywords)


def shape_call(name: str, args: list[ast.expr], keywords: list[ast.keyword]) -> ast.expr:
    """A call of the shape functions, plain Python (`declar.expr.evaluate.shape_functions`).

    Example:
        >>> ast.unparse(shape_call("prod", [ast.Name("sizes", ast.Load())], []))
        'math.prod(sizes)'
    """
    if name in ("max", "min"):
        return ast.Call(ast.Name(name, ast.Load()), args, keywords)
    if name == "prod":
        return ast.Call(attribute_path("math.prod"), args, keywords)
    raise Unsupported(f"shape function '{name}'")


def _constant(value: Any) -> ast.expr:
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise Unsupported(f"the number {value}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            return ast.UnaryOp(ast.USub(), ast.Constant(-value))
        return ast.Constant(value)
    raise Unsupported(f"a {type(value).__name__} literal")


class _Rebuild:
    def __init__(self, names: Mapping[str, str], calls: CallMaker):
        self.names, self.calls = names, calls

    def __call__(self, node: ast.AST) -> ast.expr:
        method = getattr(self, f"do_{type(node).__name__}", None)
        if method is None:
            raise Unsupported(f"expression node {type(node).__name__}")
        return method(node)

    def do_Constant(self, node: ast.Constant) -> ast.expr:
        return _constant(node.value)

    def do_Name(self, node: ast.Name) -> ast.expr:
        if node.id not in self.names:
            raise Unsupported(f"name '{node.id}'")
        return ast.parse(self.names[node.id], mode="eval").body  # a mapping of our own making

    def do_BinOp(self, node: ast.BinOp) -> ast.expr:
        return ast.BinOp(self(node.left), _operator(node.op), self(node.right))

    def do_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        if isinstance(node.op, ast.UAdd):  # the identity, as the closures make it
            return self(node.operand)
        return ast.UnaryOp(_operator(node.op), self(node.operand))

    def do_Compare(self, node: ast.Compare) -> ast.expr:
        return ast.Compare(self(node.left), [_operator(op) for op in node.ops], [self(c) for c in node.comparators])

    def do_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        return ast.BoolOp(_operator(node.op), [self(v) for v in node.values])

    def do_IfExp(self, node: ast.IfExp) -> ast.expr:
        return ast.IfExp(self(node.test), self(node.body), self(node.orelse))

    def do_Subscript(self, node: ast.Subscript) -> ast.expr:
        return ast.Subscript(self(node.value), self(node.slice), ast.Load())

    def do_Slice(self, node: ast.Slice) -> ast.expr:
        parts = [None if p is None else self(p) for p in (node.lower, node.upper, node.step)]
        return ast.Slice(*parts)

    def do_Tuple(self, node: ast.Tuple) -> ast.expr:
        return ast.Tuple([self(e) for e in node.elts], ast.Load())

    def do_List(self, node: ast.List) -> ast.expr:
        return ast.List([self(e) for e in node.elts], ast.Load())

    def do_Call(self, node: ast.Call) -> ast.expr:
        if not isinstance(node.func, ast.Name):
            raise Unsupported("a call of anything but a function of the table")
        keywords = []
        for kw in node.keywords:
            if kw.arg is None or not kw.arg.isidentifier():
                raise Unsupported("keyword unpacking")
            keywords.append(ast.keyword(kw.arg, self(kw.value)))
        return self.calls(node.func.id, [self(a) for a in node.args], keywords)


_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult, ast.USub, ast.Not,
              ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.And, ast.Or)


def _operator(op: ast.AST) -> Any:
    if not isinstance(op, _OPERATORS):
        raise Unsupported(f"operator {type(op).__name__}")
    return type(op)()


def rebuild(tree: ast.Expression | ast.AST, names: Mapping[str, str], calls: CallMaker = tensor_call) -> ast.expr:
    """The module's expression node for a checked tree (see the module docstring)."""
    return _Rebuild(names, calls)(tree.body if isinstance(tree, ast.Expression) else tree)


def source(tree: ast.Expression | ast.AST, names: Mapping[str, str], calls: CallMaker = tensor_call) -> str:
    """`rebuild`, unparsed to Python source."""
    return ast.unparse(ast.fix_missing_locations(rebuild(tree, names, calls)))


def literal(value: Any, expression: Callable[[str], ast.expr | None] | None = None) -> ast.expr:
    """A JSON value as a Python literal node; strings ``expression`` turns into a node are expressions.

    Example:
        >>> print(ast.unparse(literal({"a": [1, -2.5, None, "x"]})))
        {'a': [1, -2.5, None, 'x']}
    """
    if isinstance(value, str) and expression is not None:
        found = expression(value)
        if found is not None:
            return found
    if isinstance(value, (list, tuple)):
        return ast.List([literal(v, expression) for v in value], ast.Load())
    if isinstance(value, Mapping):
        keys: list[ast.expr | None] = []
        for key in value:
            if not isinstance(key, str):
                raise Unsupported(f"a mapping key {key!r}")
            keys.append(ast.Constant(key))
        return ast.Dict(keys, [literal(v, expression) for v in value.values()])
    return _constant(value)


def literal_source(value: Any, expression: Callable[[str], ast.expr | None] | None = None) -> str:
    """`literal`, unparsed."""
    return ast.unparse(ast.fix_missing_locations(literal(value, expression)))
