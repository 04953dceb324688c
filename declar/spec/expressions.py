"""The expressions of a custom layer type: what each may name, and how a shape one is computed.

Validation checks a type's `call` and its variable shapes, and the build runs them; both take the
names and the evaluation from here, so a name accepted at validate is bound at build, and a shape
that validation computes fails the same way when the build computes it.

Example:
    >>> from declar.limits import Limits
    >>> compute_shape("max(units, 2) * 3", {"units": 4}, Limits())
    12
    >>> try:
    ...     compute_shape("units // 0", {"units": 4}, Limits())
    ... except ExpressionError as err:
    ...     print(err)
    ZeroDivisionError: integer division or modulo by zero
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from declar.expr.evaluate import ExpressionError, shape_functions, to_closure
from declar.expr.ops import OPS, SHAPE_FUNCTIONS, TENSOR_OPS
from declar.expr.parse import Checked, Context, check
from declar.limits import Limits
from declar.spec.model import BlockSpec, LayerTypeSpec


def call_context(definition: LayerTypeSpec) -> Context:
    """What the `call` of a layer type may use: ``inputs``, ``training``, ``mask`` (the input's mask,
    None without one), its parameters, build arguments and variables, ``base(...)`` when it extends
    a layer, and the random draws (the layer owns a seed generator when its call uses them)."""
    names = {"inputs", "training", "mask"} | {p.name for p in (*definition.params, *definition.build_args)}
    names |= {v.name for v in definition.variables}
    return Context(names=names, functions=TENSOR_OPS, allow_base=definition.extends != "Layer",
                   kind=f"call of {definition.name}")


def let_names(call: Any) -> list[str]:
    """The let names of a call program (none for a plain expression)."""
    lets = call.get("let") if isinstance(call, Mapping) else None
    return [n for n in lets if isinstance(n, str)] if isinstance(lets, Mapping) else []


def after_call_context(definition: LayerTypeSpec, what: str) -> Context:
    """What a type's losses and updates (``what``) may use: the names of its call, the call's let
    names, and ``outputs`` (the call's result); the function table without the random draws.

    Example:
        >>> from declar.spec.model import layer_type_from_data
        >>> lt = layer_type_from_data("T", {"extends": "Layer", "call": {"let": {"h": "inputs"}, "return": "h"}})
        >>> sorted(after_call_context(lt, "losses").names)
        ['h', 'inputs', 'mask', 'outputs', 'training']
    """
    names = set(call_context(definition).names) | set(let_names(definition.call)) | {"outputs"}
    return Context(names=names, functions=OPS, kind=f"{what} of {definition.name}")


def block_loss_context(block: BlockSpec) -> Context:
    """What a block's losses may use: its inputs, its node names, its parameters and ``training``."""
    names = {*block.graph.inputs, *(n.name for n in block.graph.nodes), *(p.name for p in block.params), "training"}
    return Context(names=names, functions=OPS, kind=f"losses of block {block.name}")


def mask_context(definition: LayerTypeSpec) -> Context:
    """What the `mask` of a layer type may use: the names of its `call` except ``training`` and
    ``base`` (the output mask is computed from the inputs and their mask, after the call).

    Example:
        >>> from declar.spec.model import layer_type_from_data
        >>> sorted(mask_context(layer_type_from_data("T", {"extends": "Embedding"})).names)
        ['inputs', 'mask']
    """
    names = set(call_context(definition).names) - {"training"}
    return Context(names=names, kind=f"mask of {definition.name}")


def shape_context(names: Iterable[str]) -> Context:
    """What a shape expression may use: the given names and the shape functions (max, min, prod)."""
    return Context(names=names, functions=SHAPE_FUNCTIONS, kind="shape expression")


def compute_shape(expression: str | Checked, env: Mapping[str, Any], limits: Limits) -> Any:
    """The value of a shape expression (text, or already checked) with the names of ``env``.

    Raises `ExpressionError` at the column of the fault: the expression's first problem, a guard of
    the evaluator, or a value Python cannot compute with (``1 // 0``, a string where a size goes).
    """
    checked = expression if isinstance(expression, Checked) else check(expression, shape_context(env), limits)
    if checked.tree is None:
        problem = checked.problems[0]
        raise ExpressionError(problem.message, problem.col)
    try:
        return to_closure(checked.tree, shape_functions(limits), limits)(env)
    except ExpressionError:
        raise
    except (TypeError, ValueError, ArithmeticError, KeyError) as err:
        raise ExpressionError(f"shape cannot be computed: {err}") from None
