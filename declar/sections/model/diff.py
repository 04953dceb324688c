"""The model section's diff rule: nodes added, removed, renamed and changed, and the outputs.

Sequential specs are aligned by content (like `diff(1)` aligns lines), because inserting a layer
renames every later unnamed layer of its type (`dense_1` becomes `dense_2`); graph nodes are
matched by name, then unmatched ones with the same layer and arguments are paired as renames.
"""

from __future__ import annotations

import difflib
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from declar.sections.changes import Change, Item, changes
from declar.spec.model import NodeSpec, Spec, canonical_json

if TYPE_CHECKING:
    from declar.compare import SpecDiff


def diff_model(old: Spec, new: Spec, result: SpecDiff) -> None:
    """Nodes (with renames), the kind of model (a list or a graph) and the outputs."""
    result.nodes, result.renames = _node_items(old, new)
    if old.sequential != new.sequential:
        result.settings.append(Change("model", "sequential list" if old.sequential else "graph",
                                      "sequential list" if new.sequential else "graph"))
    old_outputs = dict(zip(old.outputs.names, old.outputs.refs, strict=True))
    new_outputs = dict(zip(new.outputs.names, new.outputs.refs, strict=True))
    if not (old.sequential and new.sequential):
        renamed_outputs = {n: result.renames.get(v, v) for n, v in new_outputs.items()}
        if old_outputs != renamed_outputs or list(old_outputs) != list(new_outputs):
            result.outputs = list(changes(old.outputs.to_data(), new.outputs.to_data(), "outputs"))


def node_data(spec: Spec, node: NodeSpec, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """What a node says, apart from its name (and, in a sequential spec, its implied input)."""
    data: dict[str, Any] = {}
    if node.layer is not None:
        data["layer"] = node.layer
    args = {k: v for k, v in node.args.items() if k != "name"}
    if args:
        data["args"] = args
    if node.shares is not None:
        data["shares"] = node.shares
    if node.op is not None:
        data["op"] = node.op
    if node.repeat is not None:
        data["repeat"] = node.repeat
    if not spec.sequential:
        if node.inputs:  # a node may give its first call argument under call:, and an op node has none
            data["inputs"] = list(node.inputs) if node.inputs_as_list else node.inputs[0]
        if node.call:
            data["call"] = node.call.to_data()
        if node.description is not None:
            data["description"] = node.description
    return data


def signature(data: dict[str, Any]) -> str:
    return canonical_json({k: v for k, v in data.items() if k not in ("inputs", "description")})


def _detail(node: NodeSpec) -> str:
    if node.op is not None:
        return "op"
    return node.layer if node.layer is not None else f"shares {node.shares}"


def _node_items(old: Spec, new: Spec) -> tuple[list[Item], dict[str, str]]:
    old_data = {n.name: node_data(old, n) for n in old.nodes}
    new_data = {n.name: node_data(new, n) for n in new.nodes}
    if old.sequential and new.sequential:
        pairs = align_sequence(old, new, old_data, new_data)
    else:
        pairs = _match_by_name(old, new, old_data, new_data)
    renames = {n: o for o, n in pairs if o is not None and n is not None and o != n}
    items: list[Item] = []
    old_nodes = {n.name: n for n in old.nodes}
    new_nodes = {n.name: n for n in new.nodes}
    for o, n in pairs:
        if n is None:
            items.append(Item("removed", o, _detail(old_nodes[o]), value=_shown_node(old_data[o])))
        elif o is None:
            items.append(Item("added", n, _detail(new_nodes[n]), value=_shown_node(new_data[n])))
        else:
            before, after = dict(old_data[o]), _rename_refs(new_data[n], renames)
            found = tuple(Change(c.key.removeprefix("args."), c.old, c.new) for c in changes(before, after))
            if o != n:
                items.append(Item("renamed", n, _detail(new_nodes[n]), old_name=o, changes=found))
            elif found:
                items.append(Item("changed", n, _detail(new_nodes[n]), changes=found))
    return items, renames


def _shown_node(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "layer"}


def _rename_refs(data: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """A new node's references written with old names, so a renamed input is not a rewiring."""
    out = dict(data)
    if "inputs" in out:
        refs = out["inputs"]
        out["inputs"] = [renames.get(r, r) for r in refs] if isinstance(refs, list) else renames.get(refs, refs)
    if "shares" in out:
        out["shares"] = renames.get(out["shares"], out["shares"])
    return out


def _match_by_name(old: Spec, new: Spec, old_data: dict[str, Any], new_data: dict[str, Any]
                   ) -> list[tuple[str | None, str | None]]:
    """Graph nodes: same name, then unmatched nodes with equal layer and arguments as renames.

    Linear: the unmatched old nodes are hashed by signature once; each unmatched new node takes
    the first (in old order) still free with its signature.
    """
    removed = [n.name for n in old.nodes if n.name not in new_data]
    by_signature: dict[str, deque[str]] = {}
    for name in removed:
        by_signature.setdefault(signature(old_data[name]), deque()).append(name)
    matched: set[str] = set()
    pairs: list[tuple[str | None, str | None]] = []
    for node in new.nodes:
        if node.name in old_data:
            pairs.append((node.name, node.name))
            continue
        candidates = by_signature.get(signature(new_data[node.name]))
        partner = candidates.popleft() if candidates else None
        if partner is not None:
            matched.add(partner)
        pairs.append((partner, node.name))
    return [(o, None) for o in removed if o not in matched] + pairs


MAX_ALIGNMENT_COST = 2_000_000
"""`difflib.SequenceMatcher` compares every layer with every other layer of the same signature: for
a long run of identical layers (10,000 ``Dense: {units: 2}``) that is quadratic. Above this many
pairs, sequential specs are aligned in linear time instead (see `_align_sequence`)."""


def align_sequence(old: Spec, new: Spec, old_data: dict[str, Any], new_data: dict[str, Any]
                    ) -> list[tuple[str | None, str | None]]:
    """Sequential layers aligned by content; replaced runs pair layers of the same type in order.

    Specs whose alignment would cost more than `MAX_ALIGNMENT_COST` pairs keep their common
    first and last layers, and the layers between are aligned as one replaced run (linear).
    """
    a = [n.name for n in old.nodes]
    b = [n.name for n in new.nodes]
    sig_a = [signature(old_data[x]) for x in a]
    sig_b = [signature(new_data[x]) for x in b]
    counts = Counter(sig_b)
    if sum(counts[s] for s in sig_a) <= MAX_ALIGNMENT_COST:
        opcodes = difflib.SequenceMatcher(a=sig_a, b=sig_b, autojunk=False).get_opcodes()
    else:
        opcodes = _trimmed_opcodes(sig_a, sig_b)
    pairs: list[tuple[str | None, str | None]] = []
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            pairs += list(zip(a[i1:i2], b[j1:j2], strict=True))
        else:
            pairs += _pair_replaced(a[i1:i2], b[j1:j2], old_data, new_data)
    return pairs


def _trimmed_opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """Opcodes (as `difflib`'s) of a common prefix, one replaced middle and a common suffix."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    ops = [("equal", 0, start, 0, start)] if start else []
    if start < len(a) - end or start < len(b) - end:
        ops.append(("replace", start, len(a) - end, start, len(b) - end))
    if end:
        ops.append(("equal", len(a) - end, len(a), len(b) - end, len(b)))
    return ops


def _pair_replaced(left: list[str], right: list[str], old_data: dict[str, Any], new_data: dict[str, Any]
                   ) -> list[tuple[str | None, str | None]]:
    """Pair a replaced run: each new layer takes the old layer of its name and type if still ahead,
    else the first old layer of its type ahead; the old layers passed over are removed. Linear."""
    position = {name: i for i, name in enumerate(left)}
    by_layer: dict[Any, list[int]] = {}
    for i, name in enumerate(left):
        by_layer.setdefault(old_data[name].get("layer"), []).append(i)
    scan = dict.fromkeys(by_layer, 0)  # per layer type, where to look next in by_layer (only moves on)
    pairs: list[tuple[str | None, str | None]] = []
    done = 0  # left[:done] are paired or removed
    for name in right:
        layer = new_data[name].get("layer")
        at = position.get(name)
        if at is None or at < done or old_data[name].get("layer") != layer:
            indices = by_layer.get(layer, [])
            k = scan.get(layer, 0)
            while k < len(indices) and indices[k] < done:
                k += 1
            if layer in scan:
                scan[layer] = k
            at = indices[k] if k < len(indices) else None
        if at is None:
            pairs.append((None, name))
            continue
        pairs += [(o, None) for o in left[done:at]]
        pairs.append((left[at], name))
        done = at + 1
    pairs += [(o, None) for o in left[done:]]
    return pairs
