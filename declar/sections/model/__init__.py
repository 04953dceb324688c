"""`model`: the model itself, a list of layers (Sequential) or a graph of named nodes with its
outputs (one node, a list, or a mapping from output name to node).

Its typed part is `Spec.nodes`, `Spec.outputs` and `Spec.sequential` (a list is normalized into
the same nodes as a graph); its checks are in `checks` (references, names, arguments, cycles)
and `weights` (sizes of weights and outputs); it is built by `build`; `diff` aligns nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from declar.sections.model.checks import check_nodes
from declar.sections.model.diff import diff_model
from declar.sections.model.weights import check_weights
from declar.sections.section import Section
from declar.spec.model import inputs_from_data, model_from_data


def _from_data(data: Mapping[str, Any]) -> Any:
    return model_from_data(data["model"], inputs_from_data(data)[0].name)


SECTION = Section("model", ("model",), ("nodes", "outputs", "sequential"), _from_data, (check_nodes, check_weights),
                  diff_model, "the layers, as a list or a graph of named nodes, and the outputs")
