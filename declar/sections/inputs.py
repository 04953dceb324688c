"""`inputs`: the model's named inputs, each a shape (batch axis left out) and a dtype.

Its typed part is `Spec.inputs` (`InputSpec`s in the spec's order, which is the order of the
model's positional inputs); the checks of the names nodes use are the model section's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from declar.sections.changes import keyed_items
from declar.sections.section import Section
from declar.spec.model import Spec, inputs_from_data

if TYPE_CHECKING:
    from declar.compare import SpecDiff


def diff_inputs(old: Spec, new: Spec, result: SpecDiff) -> None:
    result.inputs = keyed_items(old.section_data("inputs") or {}, new.section_data("inputs") or {})


SECTION = Section("inputs", ("inputs",), ("inputs",), inputs_from_data, (), diff_inputs,
                  "the model's named inputs: shape and dtype")
