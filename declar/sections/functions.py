"""`functions`: losses and metrics written in the expression language, by name, with params.

A function's ``params`` (``{gamma: {type: number, default: 2.0}}``, typed as a custom layer
type's params, plain numbers and booleans only) are names its expression reads besides its args;
a compile section gives them where it uses the function (``loss: {name: focal, gamma: 3.0}``).

Its typed part is `Spec.functions` (`FunctionSpec`s); each expression is checked (names, calls,
costs) like every expression of the spec. A compile section uses them by name; they are built
as registered `DeclarLoss` and `DeclarMetric` objects (`declar.keras.compile`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from declar.errors import Problem
from declar.expr.parse import Context
from declar.limits import Limits
from declar.sections.changes import keyed_items
from declar.sections.section import Section
from declar.spec.checks.locate import checked_expression
from declar.spec.checks.values import check_value
from declar.spec.loaded import LoadedSpec
from declar.spec.model import FUNCTION_PARAM_TYPES, Spec, functions_from_data

if TYPE_CHECKING:
    from declar.compare import SpecDiff


def check_functions(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    spec, doc = loaded.spec, loaded.document
    for f in spec.functions.values():
        for p in f.params:
            if p.name in f.args:
                yield doc.problem(("functions", f.name, "params", p.name), f"function '{f.name}' has both an arg "
                                  f"and a param named '{p.name}'", "rename one of them", "duplicate-name", at_key=True)
            elif not p.required and p.type in FUNCTION_PARAM_TYPES:
                yield from check_value(doc, ("functions", f.name, "params", p.name, "default"), p, p.default)
        context = Context(names=(*f.args, *(p.name for p in f.params)), kind=f"function {f.name}")
        yield from checked_expression(doc, ("functions", f.name, "expr"), f.expr, context, limits, costs=True)[1]


def diff_functions(old: Spec, new: Spec, result: SpecDiff) -> None:
    result.functions = keyed_items(old.section_data("functions") or {}, new.section_data("functions") or {})


SECTION = Section("functions", ("functions",), ("functions",), functions_from_data, (check_functions,),
                  diff_functions, "losses and metrics in the expression language")
