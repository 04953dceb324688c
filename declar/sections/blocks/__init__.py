"""`blocks`: reusable sub-graphs with parameters, each used as a node (`TransformerBlock: {...}`) of
the model or of another block, and built as a nested Keras model named after that node.

Its typed part is `Spec.blocks` (`BlockSpec`s, each with its `GraphSpec` at ``blocks.<name>``);
its checks are in `checks` (each block's graph, names, parameters, cycles and nesting depth; the
uses are checked with the nodes); it is built by `build`; `diff` reports changes block by block
and node by node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from declar.sections.blocks.checks import check_blocks
from declar.sections.changes import keyed_items
from declar.sections.section import Section
from declar.spec.model import Spec, blocks_from_data

if TYPE_CHECKING:
    from declar.compare import SpecDiff


def diff_blocks(old: Spec, new: Spec, result: SpecDiff) -> None:
    """Blocks added, removed, or changed (each change under its dotted key: ``nodes.ffn.Dense.units``)."""
    result.blocks = keyed_items(old.section_data("blocks") or {}, new.section_data("blocks") or {})


SECTION = Section("blocks", ("blocks",), ("blocks",), blocks_from_data, (check_blocks,), diff_blocks,
                  "reusable sub-graphs with parameters, used as nodes (nested models)")
