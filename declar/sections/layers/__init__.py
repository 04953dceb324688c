"""`layers`: custom layer types, each extending a Keras layer (or another custom type) with
params, build arguments, variables, assets and a `call` expression.

Its typed part is `Spec.layer_types` (`LayerTypeSpec`s); its checks are in `checks`; it is built
by the generic registered `declar.keras.layer.DeclarLayer`, whose config is the type's definition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from declar.sections.changes import keyed_items
from declar.sections.layers.checks import check_layer_types
from declar.sections.section import Section
from declar.spec.model import Spec, layer_types_from_data

if TYPE_CHECKING:
    from declar.compare import SpecDiff


def _extends(definition: Any) -> str:
    return f"extends {definition.get('extends')}" if isinstance(definition, dict) else ""


def diff_layer_types(old: Spec, new: Spec, result: SpecDiff) -> None:
    result.layer_types = keyed_items(old.section_data("layers") or {}, new.section_data("layers") or {}, _extends)


SECTION = Section("layers", ("layers",), ("layer_types",), layer_types_from_data, (check_layer_types,),
                  diff_layer_types, "custom layer types")
