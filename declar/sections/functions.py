"""`functions`: losses and metrics written in the expression language, by name.

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
from declar.spec.loaded import LoadedSpec
from declar.spec.model import Spec, functions_from_data

if TYPE_CHECKING:
    from declar.compare import SpecDiff


def check_functions(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    spec, doc = loaded.spec, loaded.document
    for f in spec.functions.values():
        context = Context(names=f.args, kind=f"function {f.name}")
        yield from checked_expression(doc, ("functions", f.name, "expr"), f.expr, context, limits, costs=True)[1]


def diff_functions(old: Spec, new: Spec, result: SpecDiff) -> None:
    result.functions = keyed_items(old.section_data("functions") or {}, new.section_data("functions") or {})


SECTION = Section("functions", ("functions",), ("functions",), functions_from_data, (check_functions,),
                  diff_functions, "losses and metrics in the expression language")
