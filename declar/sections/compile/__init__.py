"""`compile`: how the model trains: the optimizer (with its arguments, a learning-rate schedule
and gradient clipping), the loss (a name, a spec function, or one per output), loss weights,
metrics, weighted metrics, run_eagerly, jit_compile and steps_per_execution. A loss or metric is a
name or ``{name, ...arguments}`` (`losses` says how they are read and checked).

Its typed part is `Spec.compile` (`CompileSpec`); its checks are in `checks`; `build` makes the
arguments of `model.compile`; `declar diff` lists each changed setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from declar.sections.changes import changes
from declar.sections.compile.checks import check_compile
from declar.sections.section import Section
from declar.spec.model import CompileSpec, Spec

if TYPE_CHECKING:
    from declar.compare import SpecDiff


def _from_data(data: Mapping[str, Any]) -> CompileSpec | None:
    return CompileSpec.from_data(data.get("compile"))


def diff_compile(old: Spec, new: Spec, result: SpecDiff) -> None:
    # lists too: a changed metric argument reads `metrics.digit[0].k: 2 -> 3`, not two whole lists
    result.compile = list(changes(old.section_data("compile") or {}, new.section_data("compile") or {}, "",
                                  lists=True))


SECTION = Section("compile", ("compile",), ("compile",), _from_data, (check_compile,), diff_compile,
                  "optimizer, losses, metrics and training-step settings")
