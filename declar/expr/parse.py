"""Parsing and checking expressions: Python syntax, an allow-list of node types, bound names only.

The text goes through ``ast.parse(mode="eval")`` and one walk that accepts only the node types
listed in `_ALLOWED`; there is no attribute access at all, calls go only to names in the function
table, and every name must be bound by the context. The result is a `Checked` tree that
`declar.expr.compile` turns into a closure; nothing here imports keras, and nothing is ever
passed to eval, exec or compile.

Example:
    >>> checked = check("matmul(inputs, w) + b", Context(names={"inputs", "w", "b"}))
    >>> sorted(checked.names)
    ['b', 'inputs', 'w']
    >>> check("inputs.__class__", Context(names={"inputs"})).problems[0].message
    'attribute access (.__class__) is not allowed'
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field

from declar.expr.ops import BASE, OPS, RANDOM_OPS, Signature
from declar.hints import did_you_mean
from declar.limits import DEFAULT_LIMITS, Limits

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)
_UNARY = (ast.USub, ast.UAdd, ast.Not)
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ALLOWED = (ast.Expression, ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp,
            ast.IfExp, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Call, ast.keyword,
            ast.Load, ast.And, ast.Or, *_BINOPS, *_UNARY, *_COMPARE)

# What a refused node is called in messages, for the constructs people actually try.
_REFUSED_NAMES = {
    ast.Attribute: "attribute access", ast.Lambda: "lambda", ast.ListComp: "comprehension",
    ast.SetComp: "comprehension", ast.DictComp: "comprehension", ast.GeneratorExp: "generator expression",
    ast.JoinedStr: "f-string", ast.FormattedValue: "f-string", ast.NamedExpr: "assignment (:=)",
    ast.Starred: "starred argument", ast.Dict: "dict literal", ast.Set: "set literal",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
}
_MAX_INT_BITS = 64
# Arguments optional in Keras that the language requires: without them the result's size would
# come from the data (segment_sum's output has max(segment_ids) + 1 rows), beyond any check.
_NEEDED = {"segment_sum": "num_segments", "segment_max": "num_segments"}


@dataclass(frozen=True)
class ExprProblem:
    """A mistake inside an expression; ``col`` is 1-based within the expression text."""

    col: int
    message: str
    hint: str = ""
    code: str = "expression"


@dataclass(frozen=True)
class Context:
    """What an expression may use: bound names, callable functions, and whether `base` exists."""

    names: Iterable[str] = ()
    functions: Mapping[str, Signature] = field(default_factory=lambda: OPS)
    allow_base: bool = False
    kind: str = "expression"
    name_hints: Mapping[str, str] = field(default_factory=dict)
    """A hint for a name that is not bound here but means something (a let name defined later)."""


@dataclass(frozen=True)
class Checked:
    """An expression that passed every check (``tree`` is None when ``problems`` is not empty)."""

    text: str
    tree: ast.Expression | None
    names: frozenset[str]
    problems: tuple[ExprProblem, ...]


def check(text: str, context: Context, limits: Limits = DEFAULT_LIMITS) -> Checked:
    """Parse ``text`` and check it against ``context``; never raises for bad input."""
    if not isinstance(text, str):
        return Checked(str(text), None, frozenset(), (ExprProblem(1, "an expression must be a string"),))
    if len(text) > limits.max_expression_chars:
        return Checked(text, None, frozenset(), (ExprProblem(
            1, f"expression is {len(text):,} characters, over the limit of {limits.max_expression_chars:,}",
            "split the computation, or raise Limits.max_expression_chars", "expression-too-long"),))
    # Newlines (YAML block scalars) become spaces: same length, so columns stay right.
    source = text.replace("\n", " ")
    offset = len(source) - len(source.lstrip())
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and the like: we report our own
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)  # "invalid escape sequence" before 3.12
            tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as err:
        # Python counts from 1 and may point one past the end ("1 +"); keep it inside the text.
        end = len(source.strip()) or 1
        col = min(err.offset if err.offset and err.offset > 0 else end, end) + offset
        problem = ExprProblem(col, f"syntax error: {err.msg}", "", "expression-syntax")
        return Checked(text, None, frozenset(), (problem,))
    except (RecursionError, MemoryError, ValueError) as err:
        return Checked(text, None, frozenset(), (ExprProblem(1, f"expression cannot be parsed: {type(err).__name__}",
                                                             "simplify it", "expression-syntax"),))
    walker = _Checker(context, limits, offset=offset, source=source.strip())
    walker.visit(tree, 0)
    problems = tuple(sorted(walker.problems, key=lambda p: p.col))
    return Checked(text, None if problems else tree, frozenset(walker.used), problems)


class _Checker:
    def __init__(self, context: Context, limits: Limits, offset: int, source: str):
        self.context = context
        self.encoded = source.encode("utf-8")  # ast counts columns in UTF-8 bytes
        self.too_deep = False
        # a set is used as given, not copied: op nodes of big graphs each see every other name
        self.bound = context.names if isinstance(context.names, Set) else frozenset(context.names)
        self.limits = limits
        self.offset = offset
        self.problems: list[ExprProblem] = []
        self.used: set[str] = set()

    def refuse(self, node: ast.AST, message: str, hint: str = "", code: str = "expression") -> None:
        byte_col = getattr(node, "col_offset", 0)
        col = len(self.encoded[:byte_col].decode("utf-8", "ignore")) + 1 + self.offset
        self.problems.append(ExprProblem(col, message, hint, code))

    def visit(self, node: ast.AST, depth: int, argument: bool = False) -> None:
        if depth > self.limits.max_expression_depth and hasattr(node, "col_offset"):  # operators are leaves
            if not self.too_deep:  # once per expression, at the first node too deep
                self.too_deep = True
                self.refuse(node, f"expression nests deeper than {self.limits.max_expression_depth} levels",
                            "split it, or raise Limits.max_expression_depth", "expression-too-deep")
            return
        if not isinstance(node, _ALLOWED):
            kind = _REFUSED_NAMES.get(type(node), type(node).__name__)
            if isinstance(node, ast.Attribute):
                kind = f"attribute access (.{node.attr})"
            self.refuse(node, f"{kind} is not allowed", _hint_for(node), "expression-refused")
            return
        handler = getattr(self, f"visit_{type(node).__name__}", None)
        if handler is not None:
            handler(node, depth, argument)
        else:
            for child in ast.iter_child_nodes(node):
                self.visit(child, depth + 1)

    def visit_Constant(self, node: ast.Constant, depth: int, argument: bool) -> None:
        value = node.value
        if isinstance(value, str):
            if not argument:
                self.refuse(node, "a string can only be a function argument", 'e.g. cast(x, "float32")')
            elif len(value) > 64:
                self.refuse(node, "string argument is longer than 64 characters")
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            return
        elif isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:
                self.refuse(node, f"integer literal has {value.bit_length()} bits, more than {_MAX_INT_BITS}",
                            code="expression-limit")
        else:
            self.refuse(node, f"{type(value).__name__} literals are not allowed")

    def visit_Name(self, node: ast.Name, depth: int, argument: bool) -> None:
        name = node.id
        if name.startswith("__"):
            self.refuse(node, f"name '{name}' is not allowed", "dunder names are never bound", "expression-refused")
        elif name in self.bound:
            self.used.add(name)
        elif name in self.context.functions or (name == "base" and self.context.allow_base):
            self.refuse(node, f"'{name}' is a function; call it", f"e.g. {name}(...)")
        else:
            hint = self.context.name_hints.get(name) or did_you_mean(name, self.bound) or (
                f"names here: {', '.join(sorted(self.bound))}" if self.bound else "nothing is bound here")
            self.refuse(node, f"unknown name '{name}' in {self.context.kind}", hint, "unknown-name")

    def visit_Call(self, node: ast.Call, depth: int, argument: bool) -> None:
        if not isinstance(node.func, ast.Name):
            found = len(self.problems)
            self.visit(node.func, depth + 1)  # `x.numpy()`, `(lambda: x)()`: say what is wrong with the callee
            if len(self.problems) == found:  # `x[0](1)`, `sum(x)(1)`: a value is not a function
                self.refuse(node, "only functions of the table can be called", "`declar ops` lists them",
                            "expression-refused")
            return
        name = node.func.id
        if name == "base" and self.context.allow_base:
            signature = BASE
        elif name in self.context.functions:
            signature = self.context.functions[name]
        else:
            choices = list(self.context.functions) + (["base"] if self.context.allow_base else [])
            hint = did_you_mean(name, choices) or "run `declar ops` for the function table"
            if name == "base":
                hint = "base() exists only in a custom layer's call"
            elif name in RANDOM_OPS:
                hint = "random draws exist only in a custom layer's call: the layer owns their seed generator"
            self.refuse(node.func, f"unknown function '{name}'", hint, "unknown-function")
            signature = None
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.refuse(arg, "starred argument is not allowed", "", "expression-refused")
            else:
                self.visit(arg, depth + 1, argument=True)
        for kw in node.keywords:
            if kw.arg is None:
                self.refuse(kw.value, "**keyword unpacking is not allowed", "", "expression-refused")
            else:
                self.visit(kw.value, depth + 1, argument=True)
        if signature is not None and signature is not BASE:
            self.check_arguments(node, signature)

    def check_arguments(self, node: ast.Call, sig: Signature) -> None:
        given = len(node.args)
        if given > len(sig.params) and not sig.varargs:
            self.refuse(node, f"{sig.name}() takes at most {len(sig.params)} positional arguments, got {given}",
                        f"signature: {sig.render()}", "expression-arguments")
        filled = set(sig.params[:given])
        for kw in node.keywords:
            if kw.arg is None:
                continue
            if kw.arg not in sig.params:
                hint = did_you_mean(kw.arg, sig.params) or f"signature: {sig.render()}"
                self.refuse(kw, f"{sig.name}() has no argument '{kw.arg}'", hint, "expression-arguments")
            elif kw.arg in filled:
                self.refuse(kw, f"{sig.name}() got argument '{kw.arg}' twice", "", "expression-arguments")
            filled.add(kw.arg)
        needed = _NEEDED.get(sig.name)
        if needed and needed not in filled:
            self.refuse(node, f"{sig.name}() needs {needed} here",
                        f"without it the output would have as many rows as the largest id in the data, which no "
                        f"check can bound before it runs; signature: {sig.render()}", "expression-arguments")
        missing = [p for p in sig.params[: sig.required] if p not in filled]
        if missing:
            self.refuse(node, f"{sig.name}() is missing argument '{missing[0]}'", f"signature: {sig.render()}",
                        "expression-arguments")

    def visit_Subscript(self, node: ast.Subscript, depth: int, argument: bool) -> None:
        self.visit(node.value, depth + 1)
        self.visit(node.slice, depth + 1)

    def visit_BinOp(self, node: ast.BinOp, depth: int, argument: bool) -> None:
        if not isinstance(node.op, _BINOPS):
            self.refuse(node, f"operator {type(node.op).__name__} is not allowed",
                        "arithmetic is + - * / // % ** and @", "expression-refused")
            return
        for side in (node.left, node.right):
            if isinstance(side, (ast.List, ast.Tuple)) and isinstance(node.op, (ast.Mult, ast.Add)):
                self.refuse(side, "lists cannot be repeated or joined with * or +",
                            "write the list out", "expression-refused")
        self.visit(node.left, depth + 1)
        self.visit(node.right, depth + 1)

    def visit_List(self, node: ast.List, depth: int, argument: bool) -> None:
        for item in node.elts:
            self.visit(item, depth + 1, argument=argument)

    visit_Tuple = visit_List


def _hint_for(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        if node.attr in OPS:
            return f"call the function instead: {node.attr}(...)"
        if node.attr == "T":
            return "use transpose(x)"
        return "expressions have no attribute access; `declar ops` lists the functions"
    if isinstance(node, (ast.JoinedStr, ast.FormattedValue)):
        return "strings are only allowed as plain function arguments"
    return "see `declar ops` for what expressions may contain"
