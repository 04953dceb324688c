"""Checks of what a custom type or a block adds to training: its `losses:` and a type's `updates:`.

A loss is an expression (or ``{value, weight}``) checked against what it may read
(`declar.spec.expressions.after_call_context` for a type, `block_loss_context` for a block); its
name becomes a metric of ``fit``, so it may not be Keras's own ``loss`` nor look like a validation
metric (``val_...``). An update names a declared variable that is not trainable (training would
fight the assignment), has exactly one of the forms `declar.spec.model.UPDATE_FORMS`, and a value
checked like a loss; a constant value is checked against the variable's dtype here, and every value
against the variable's shape when the layer is built.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from declar.errors import JsonPath, Problem
from declar.expr.cost import fold
from declar.expr.parse import Context
from declar.hints import did_you_mean
from declar.limits import Limits
from declar.spec.checks.locate import checked_expression, expression_problem
from declar.spec.expressions import after_call_context, block_loss_context
from declar.spec.model import UPDATE_FORMS, BlockSpec, LayerTypeSpec
from declar.spec.source import Document

RESERVED_LOSS_NAMES = frozenset({"loss"})


def check_type_state(doc: Document, lt: LayerTypeSpec, limits: Limits) -> Iterator[Problem]:
    """The losses and updates of the custom type ``lt``, each problem at its place."""
    raw = doc.data["layers"][lt.name]
    if raw.get("losses") or raw.get("updates"):
        yield from _check_outputs_name(doc, lt, raw)
    yield from check_losses(doc, ("layers", lt.name), raw.get("losses"), after_call_context(lt, "losses"), limits)
    yield from _check_updates(doc, lt, raw.get("updates"), limits)


def check_block_losses(doc: Document, block: BlockSpec, limits: Limits) -> Iterator[Problem]:
    """The losses of ``block``, over its inputs, node names and parameters."""
    raw = doc.data["blocks"][block.name]
    yield from check_losses(doc, block.path, raw.get("losses"), block_loss_context(block), limits)


def check_losses(doc: Document, owner: JsonPath, raw: Any, context: Context, limits: Limits) -> Iterator[Problem]:
    """Each loss of a ``losses:`` mapping at ``owner``: its name, its weight, its expression."""
    if not isinstance(raw, Mapping):
        return  # absent, or the schema's to report
    for name, value in raw.items():
        path = (*owner, "losses", name)
        if name in RESERVED_LOSS_NAMES or str(name).startswith("val_"):
            yield doc.problem(path, f"loss name '{name}' is taken by Keras's own metrics",
                              "fit reports `loss` and `val_<metric>`; choose another name, e.g. kl_loss",
                              "reserved-name", at_key=True)
        if isinstance(value, Mapping):
            weight = value.get("weight", 1.0)
            if isinstance(weight, (int, float)) and not isinstance(weight, bool) and not 0 <= weight < float("inf"):
                yield doc.problem((*path, "weight"), f"loss weight {weight} is not a finite number >= 0",
                                  "a weight scales the loss in the total: 0 turns it off", "bad-weight")
            text, at = value.get("value"), (*path, "value")
        else:
            text, at = value, path
        if isinstance(text, str):
            yield from checked_expression(doc, at, text, context, limits, costs=True)[1]


def _check_outputs_name(doc: Document, lt: LayerTypeSpec, raw: Mapping[str, Any]) -> Iterator[Problem]:
    """``outputs`` is the call's result in losses and updates: a member or let name of that name would hide it."""
    lets = raw["call"].get("let") if isinstance(raw.get("call"), Mapping) else None
    places = [(group, raw.get(group)) for group in ("params", "build_args", "variables")] + [(("call", "let"), lets)]
    for group, members in places:
        if isinstance(members, Mapping) and "outputs" in members:
            where = group if isinstance(group, tuple) else (group,)
            yield doc.problem(("layers", lt.name, *where, "outputs"), "'outputs' names the call's result in the "
                              "type's losses and updates", "choose another name", "reserved-name", at_key=True)


def _check_updates(doc: Document, lt: LayerTypeSpec, raw: Any, limits: Limits) -> Iterator[Problem]:
    if not isinstance(raw, Mapping):
        return
    variables = {v.name: v for v in lt.variables}
    context = after_call_context(lt, "updates")
    for name, value in raw.items():
        path = ("layers", lt.name, "updates", name)
        variable = variables.get(name)
        if variable is None:
            hint = did_you_mean(str(name), variables) or "declare it under variables with trainable: false"
            yield doc.problem(path, f"update of unknown variable '{name}'", hint, "unknown-variable", at_key=True)
        elif variable.trainable:
            yield doc.problem(path, f"variable '{name}' is trainable: only a non-trainable variable is updated in "
                              "call", f"declare it with trainable: false at variables.{name}",
                              "trainable-update", at_key=True)
        if not isinstance(value, Mapping):
            continue  # the schema's to report
        forms = [f for f in UPDATE_FORMS if f in value]
        if len(forms) != 1:
            given = f", got {', '.join(forms)}" if forms else ""
            yield doc.problem(path, f"an update needs exactly one of {', '.join(UPDATE_FORMS)}{given}",
                              'e.g. count: {assign_add: "1.0"}', "update-form")
        for form in forms:
            checked, problems = checked_expression(doc, (*path, form), value[form], context, limits, costs=True)
            yield from problems
            if not problems and variable is not None and checked.tree is not None:
                yield from _check_constant(doc, (*path, form), checked, variable.dtype, limits)


def _check_constant(doc: Document, path: JsonPath, checked: Any, dtype: str, limits: Limits) -> Iterator[Problem]:
    """A constant value (``1.0``) against the variable's dtype: a fraction never fits an integer."""
    _, value, known = fold(checked, limits, {})
    if not known:
        return
    integer = dtype.startswith(("int", "uint"))
    if isinstance(value, bool) or (not isinstance(value, (int, float))):
        yield expression_problem(doc, path, 1, f"the update's value {value!r} is not a number",
                                 "give a number or an expression", "update-dtype")
    elif integer and isinstance(value, float) and not value.is_integer():
        yield expression_problem(doc, path, 1, f"the update's value {value} does not fit the variable's dtype "
                                 f"{dtype}", "give an integer, or declare the variable float32", "update-dtype")
