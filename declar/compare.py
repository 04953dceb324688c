"""A semantic diff of two versions of a model, for code review (`declar diff OLD NEW`).

Each side is a spec file or a .keras archive (whose embedded spec is checked like a file). The
diff compares what the specs *say*, never how they are written: comments, key order and
formatting do not count. It reports nodes added, removed, renamed (same layer type and
arguments, another name) and changed (each argument, old -> new), custom layer types, functions,
inputs, outputs, compile settings and the remaining top-level settings (name, seed,
dtype_policy, distribution...). With Keras installed, `compare_builds` adds the parameter count
and output shape of every node that changed, and the totals.

Sequential specs are aligned by content (like `diff(1)` aligns lines), because inserting a layer
renames every later unnamed layer of its type (`dense_1` becomes `dense_2`); graph nodes are
matched by name, then unmatched ones with the same layer and arguments are paired as renames.

Nothing here imports Keras unless `compare_builds` is called.

Example:
    >>> from declar.spec.load import load_spec
    >>> old = load_spec("declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dense: {units: 1}}]\\n").spec
    >>> new = load_spec("declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dense: {units: 2}}]\\n").spec
    >>> [c.render() for c in diff_specs(old, new).nodes]
    ['~ dense (Dense): units: 1 -> 2']
"""

from __future__ import annotations

import difflib
import json
import os
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from declar.limits import DEFAULT_LIMITS, Limits
from declar.spec.loaded import LoadedSpec
from declar.spec.model import NodeSpec, Spec
from declar.text import escape, md_code, md_text

MISSING = "(unset)"
# Top-level keys that have their own section; every other key is compared as "settings".
_SECTIONS = {"inputs", "layers", "model", "compile", "functions"}


@dataclass(frozen=True)
class Change:
    """One changed value: a dotted key inside the thing compared, rendered old -> new."""

    key: str
    old: Any
    new: Any

    def render(self) -> str:
        return escape(f"{self.key}: {show(self.old)} -> {show(self.new)}")


@dataclass(frozen=True)
class Item:
    """One entry of a section: ``kind`` is added, removed, renamed or changed."""

    kind: str
    name: str
    detail: str = ""
    """The layer type of a node, the extended layer of a custom type."""
    old_name: str | None = None
    """For a rename, the name in the old version."""
    changes: tuple[Change, ...] = ()
    value: Any = None
    """For an added or removed entry, what it is (its arguments, definition or value)."""

    def render(self) -> str:
        return escape(self._render())

    def _render(self) -> str:
        what = f" ({self.detail})" if self.detail else ""
        if self.kind == "added":
            return f"+ {self.name}{what}" + (f": {show(self.value)}" if self.value not in (None, {}) else "")
        if self.kind == "removed":
            return f"- {self.name}{what}" + (f": {show(self.value)}" if self.value not in (None, {}) else "")
        changes = "; ".join(c.render() for c in self.changes)
        if self.kind == "renamed":
            return f"> {self.old_name} -> {self.name}{what}" + (f": {changes}" if changes else "")
        return f"~ {self.name}{what}: {changes}"


@dataclass(frozen=True)
class NodeBuild:
    """Parameter count and output shape of one node after building, in the old and new versions."""

    name: str
    old_params: int | None
    new_params: int | None
    old_shape: str | None
    new_shape: str | None

    def render(self) -> str:
        return escape(self._render())

    def _render(self) -> str:
        if self.old_params is None:
            return f"{self.name}: added, {_count(self.new_params)} params, output {self.new_shape}"
        if self.new_params is None:
            return f"{self.name}: removed, {_count(self.old_params)} params, output {self.old_shape}"
        parts = []
        if self.old_params != self.new_params:
            parts.append(f"params {_count(self.old_params)} -> {_count(self.new_params)}")
        if self.old_shape != self.new_shape:
            parts.append(f"output {self.old_shape or MISSING} -> {self.new_shape or MISSING}")
        return f"{self.name}: {', '.join(parts)}"


@dataclass(frozen=True)
class BuildDiff:
    old_params: int
    new_params: int
    old_output: str
    new_output: str
    nodes: tuple[NodeBuild, ...]

    @property
    def changed(self) -> bool:
        return bool(self.nodes) or self.old_params != self.new_params or self.old_output != self.new_output


@dataclass
class SpecDiff:
    """Everything that differs between two specs; empty sections when they say the same thing."""

    old: str
    new: str
    settings: list[Change] = field(default_factory=list)
    inputs: list[Item] = field(default_factory=list)
    nodes: list[Item] = field(default_factory=list)
    outputs: list[Change] = field(default_factory=list)
    layer_types: list[Item] = field(default_factory=list)
    functions: list[Item] = field(default_factory=list)
    compile: list[Change] = field(default_factory=list)
    build: BuildDiff | None = None
    renames: dict[str, str] = field(default_factory=dict)
    """New node name -> old node name, for nodes matched under another name."""

    SECTIONS = ("settings", "inputs", "nodes", "outputs", "layer_types", "functions", "compile")
    TITLES = {"settings": "settings", "inputs": "inputs", "nodes": "nodes", "outputs": "outputs",
              "layer_types": "custom layer types", "functions": "functions", "compile": "compile"}

    @property
    def equal(self) -> bool:
        return not any(getattr(self, s) for s in self.SECTIONS) and not (self.build and self.build.changed)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"old": self.old, "new": self.new, "equal": self.equal}
        for section in self.SECTIONS:
            out[section] = [_plain(asdict(x)) for x in getattr(self, section)]
        out["build"] = _plain(asdict(self.build)) if self.build else None
        return out

    # -- rendering ---------------------------------------------------------------------------

    def render_text(self) -> str:
        lines = [f"--- {self.old}", f"+++ {self.new}"]
        if self.equal:
            lines.append("no semantic differences")
            return "\n".join(escape(line) for line in lines)
        for section in self.SECTIONS:
            entries = getattr(self, section)
            if entries:
                lines.append(f"{self.TITLES[section]}:")
                lines += [f"  {_text_entry(e)}" for e in entries]
        if self.build:
            b = self.build
            lines.append(f"parameters: {_count(b.old_params)} -> {_count(b.new_params)} "
                         f"({_delta(b.old_params, b.new_params)})")
            if b.old_output != b.new_output:
                lines.append(f"output shape: {b.old_output} -> {b.new_output}")
            lines += [f"  {n.render()}" for n in b.nodes]
        # Each entry is one line: escaping it keeps a spec's text from forging or hiding lines.
        return "\n".join(escape(line) for line in lines)

    def render_markdown(self) -> str:
        # Every piece of spec text goes through md_code or md_text: a value cannot end a table row,
        # open an HTML comment or close a code span, so what renders is what changed.
        lines = [f"### declar diff: {md_code(self.old)} → {md_code(self.new)}", ""]
        if self.equal:
            lines.append("No semantic differences.")
            return "\n".join(lines)
        for section in self.SECTIONS:
            entries = getattr(self, section)
            if not entries:
                continue
            lines += [f"**{self.TITLES[section].capitalize()}**", ""]
            if isinstance(entries[0], Change):
                lines += ["| setting | old | new |", "|---|---|---|"]
                lines += [f"| {md_code(c.key)} | {_md(c.old)} | {_md(c.new)} |" for c in entries]
            else:
                lines += ["| | name | what changed |", "|---|---|---|"]
                for e in entries:
                    mark = {"added": "➕ added", "removed": "➖ removed", "renamed": "🔀 renamed",
                            "changed": "✏️ changed"}[e.kind]
                    name = f"{md_code(e.old_name)} → {md_code(e.name)}" if e.kind == "renamed" else md_code(e.name)
                    if e.detail:
                        name += f" ({md_text(e.detail)})"
                    if e.changes:
                        what = "<br>".join(f"{md_code(c.key)}: {_md(c.old)} → {_md(c.new)}" for c in e.changes)
                    else:
                        what = _md(e.value) if e.value not in (None, {}) else ""
                    lines.append(f"| {mark} | {name} | {what} |")
            lines.append("")
        if self.build:
            b = self.build
            lines += ["**Parameters and output shapes**", "", "| node | params | output shape |", "|---|---|---|"]
            for n in b.nodes:
                if n.old_params is None or n.new_params is None:
                    kind = "added" if n.old_params is None else "removed"
                    count = n.new_params if n.old_params is None else n.old_params
                    shape = n.new_shape if n.old_params is None else n.old_shape
                    lines.append(f"| {md_code(n.name)} ({kind}) | {_count(count)} | {md_code(shape)} |")
                    continue
                params = (f"{_count(n.old_params)} → {_count(n.new_params)}" if n.old_params != n.new_params
                          else _count(n.new_params))
                shape = (f"{md_code(n.old_shape)} → {md_code(n.new_shape)}" if n.old_shape != n.new_shape
                         else md_code(n.new_shape))
                lines.append(f"| {md_code(n.name)} | {params} | {shape} |")
            output = (f"{md_code(b.old_output)} → {md_code(b.new_output)}" if b.old_output != b.new_output
                      else md_code(b.new_output))
            lines.append(f"| **total** | {_count(b.old_params)} → {_count(b.new_params)} "
                         f"({_delta(b.old_params, b.new_params)}) | {output} |")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"


def _text_entry(entry: Item | Change) -> str:
    return entry.render() if isinstance(entry, Item) else f"~ {entry.render()}"


# -- values --------------------------------------------------------------------------------


def show(value: Any) -> str:
    """A value as compact, YAML-like flow text (``{name: adam, learning_rate: 0.001}``)."""
    if value is MISSING:
        return MISSING
    if isinstance(value, str):
        return json.dumps(value) if (not value or value != value.strip() or any(c in value for c in ",:{}[]#\"'\n")
                                     or value in ("true", "false", "null")) else value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return json.dumps(value)


def _md(value: Any) -> str:
    return md_code(show(value))


def _count(n: int | None) -> str:
    return MISSING if n is None else f"{n:,}"


def _delta(old: int, new: int) -> str:
    return f"{new - old:+,}" if old != new else "unchanged"


def _plain(value: Any) -> Any:
    """JSON-ready: the MISSING marker becomes null, tuples become lists."""
    if value is MISSING:
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def changes(old: Any, new: Any, prefix: str = "") -> tuple[Change, ...]:
    """Changed dotted keys between two values: mappings are compared key by key, anything else whole.

    A name and a mapping with that name (``adam`` and ``{name: adam, learning_rate: 0.01}``) are
    compared as ``{name: adam}`` and the mapping, so only the added arguments show.
    """
    if isinstance(old, str) and isinstance(new, dict) and new.get("name") == old:
        old = {"name": old}
    elif isinstance(new, str) and isinstance(old, dict) and old.get("name") == new:
        new = {"name": new}
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[Change] = []
        for k in [*old, *(k for k in new if k not in old)]:
            found += changes(old.get(k, MISSING), new.get(k, MISSING), f"{prefix}.{k}" if prefix else str(k))
        return tuple(found)
    return () if same(old, new) else (Change(prefix or "value", old, new),)


def same(a: Any, b: Any) -> bool:
    """Equality of spec values in which NaN equals NaN (a spec holding ``.nan`` is the same as itself).

    Example:
        >>> same({"x": float("nan")}, {"x": float("nan")}), same([1, 2], [1, 2.5])
        (True, False)
    """
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# -- the diff ------------------------------------------------------------------------------


def diff_specs(old: Spec, new: Spec, old_label: str | None = None, new_label: str | None = None) -> SpecDiff:
    """The semantic difference between two checked specs (see the module docstring)."""
    result = SpecDiff(old_label or "<string>", new_label or "<string>")
    a, b = old.to_data(), new.to_data()
    for key in [*a, *(k for k in b if k not in a)]:
        if key not in _SECTIONS:
            result.settings += changes(a.get(key, MISSING), b.get(key, MISSING), key)
    result.inputs = _keyed_items(a.get("inputs") or {}, b.get("inputs") or {}, lambda v: "")
    result.layer_types = _keyed_items(a.get("layers") or {}, b.get("layers") or {},
                                      lambda v: f"extends {v.get('extends')}" if isinstance(v, dict) else "")
    result.functions = _keyed_items(a.get("functions") or {}, b.get("functions") or {}, lambda v: "")
    result.compile = list(changes(a.get("compile") or {}, b.get("compile") or {}, ""))
    result.nodes, result.renames = _node_items(old, new)
    if old.sequential != new.sequential:
        result.settings.append(Change("model", "sequential list" if old.sequential else "graph",
                                      "sequential list" if new.sequential else "graph"))
    old_outputs = dict(zip(old.outputs.names, old.outputs.refs, strict=True))
    new_outputs = dict(zip(new.outputs.names, new.outputs.refs, strict=True))
    if not (old.sequential and new.sequential):
        renamed_outputs = {n: result.renames.get(v, v) for n, v in new_outputs.items()}
        if old_outputs != renamed_outputs or list(old_outputs) != list(new_outputs):
            result.outputs = list(changes(_outputs_data(old), _outputs_data(new), "outputs"))
    return result


def _outputs_data(spec: Spec) -> Any:
    return spec.outputs.to_data()


def _keyed_items(old: dict[str, Any], new: dict[str, Any], detail: Any) -> list[Item]:
    items = [Item("removed", k, detail(v), value=v) for k, v in old.items() if k not in new]
    for k, v in new.items():
        if k not in old:
            items.append(Item("added", k, detail(v), value=v))
        elif not same(old[k], v):
            items.append(Item("changed", k, detail(v), changes=changes(old[k], v)))
    return items


def _node_data(spec: Spec, node: NodeSpec, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """What a node says, apart from its name (and, in a sequential spec, its implied input)."""
    data: dict[str, Any] = {}
    if node.layer is not None:
        data["layer"] = node.layer
    args = {k: v for k, v in node.args.to_data().items() if k != "name"}
    if args:
        data["args"] = args
    if node.shares is not None:
        data["shares"] = node.shares
    if not spec.sequential:
        data["inputs"] = list(node.inputs) if node.inputs_as_list else node.inputs[0]
        if node.description is not None:
            data["description"] = node.description
    return data


def _signature(data: dict[str, Any]) -> str:
    from declar.spec.model import canonical_json

    return canonical_json({k: v for k, v in data.items() if k not in ("inputs", "description")})


def _detail(node: NodeSpec) -> str:
    return node.layer if node.layer is not None else f"shares {node.shares}"


def _node_items(old: Spec, new: Spec) -> tuple[list[Item], dict[str, str]]:
    old_data = {n.name: _node_data(old, n) for n in old.nodes}
    new_data = {n.name: _node_data(new, n) for n in new.nodes}
    if old.sequential and new.sequential:
        pairs = _align_sequence(old, new, old_data, new_data)
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
        by_signature.setdefault(_signature(old_data[name]), deque()).append(name)
    matched: set[str] = set()
    pairs: list[tuple[str | None, str | None]] = []
    for node in new.nodes:
        if node.name in old_data:
            pairs.append((node.name, node.name))
            continue
        candidates = by_signature.get(_signature(new_data[node.name]))
        partner = candidates.popleft() if candidates else None
        if partner is not None:
            matched.add(partner)
        pairs.append((partner, node.name))
    return [(o, None) for o in removed if o not in matched] + pairs


MAX_ALIGNMENT_COST = 2_000_000
"""`difflib.SequenceMatcher` compares every layer with every other layer of the same signature: for
a long run of identical layers (10,000 ``Dense: {units: 2}``) that is quadratic. Above this many
pairs, sequential specs are aligned in linear time instead (see `_align_sequence`)."""


def _align_sequence(old: Spec, new: Spec, old_data: dict[str, Any], new_data: dict[str, Any]
                    ) -> list[tuple[str | None, str | None]]:
    """Sequential layers aligned by content; replaced runs pair layers of the same type in order.

    Specs whose alignment would cost more than `MAX_ALIGNMENT_COST` pairs keep their common
    first and last layers, and the layers between are aligned as one replaced run (linear).
    """
    a = [n.name for n in old.nodes]
    b = [n.name for n in new.nodes]
    sig_a = [_signature(old_data[x]) for x in a]
    sig_b = [_signature(new_data[x]) for x in b]
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


# -- builds (Keras) ------------------------------------------------------------------------


def build_summary(model: Any) -> tuple[dict[str, tuple[int, str]], int, str]:
    """Per layer (params, output shape), total params and the model's output shape."""
    rows = {}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        rows[layer.name] = (layer.count_params(), output_shape_text(layer))
    output = model.output_shape
    if isinstance(output, dict):
        output = {k: output[k] for k in sorted(output)}
    return rows, model.count_params(), str(output)


def output_shape_text(layer: Any) -> str:
    """A layer's output shape as text: ``(None, 4)``, or a list or mapping of them for a layer that
    returns several tensors (an LSTM with ``return_state``)."""
    if not hasattr(layer, "output"):
        return ""
    output = layer.output
    if isinstance(output, dict):
        return "{" + ", ".join(f"{k}: {tuple(v.shape)}" for k, v in output.items()) + "}"
    if isinstance(output, (list, tuple)):
        return "[" + ", ".join(str(tuple(t.shape)) for t in output) + "]"
    return str(tuple(output.shape))


def compare_builds(result: SpecDiff, old_model: Any, new_model: Any) -> BuildDiff:
    """Add parameter counts and output shapes of both built models to ``result``."""
    old_rows, old_total, old_out = build_summary(old_model)
    new_rows, new_total, new_out = build_summary(new_model)
    renamed_from = result.renames
    nodes = []
    seen_old = set()
    for name, (params, shape) in new_rows.items():
        old_name = renamed_from.get(name, name)
        before = old_rows.get(old_name)
        if before is not None:
            seen_old.add(old_name)
        label = name if old_name == name or before is None else f"{old_name} -> {name}"
        if before is None or before != (params, shape):
            nodes.append(NodeBuild(label, before[0] if before else None, params, before[1] if before else None,
                                   shape))
    for name, (params, shape) in old_rows.items():
        if name not in seen_old:
            nodes.append(NodeBuild(name, params, None, shape, None))
    result.build = BuildDiff(old_total, new_total, old_out, new_out, tuple(nodes))
    return result.build


# -- sources -------------------------------------------------------------------------------


def is_archive(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).endswith(".keras")


def read_spec(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> LoadedSpec:
    """The checked spec of a spec file, or the embedded spec of a .keras archive (checked like a file).

    Raises `SpecError` (located problems) or `declar.archive.ArchiveError`.
    """
    if is_archive(path):
        from declar.archive import inspect_archive
        from declar.spec.load import spec_from_data

        info = inspect_archive(path)
        return spec_from_data(info["spec"], sha256=info["recorded_sha256"], name=f"{path} (embedded spec)",
                              limits=limits)
    from declar.spec.load import load_spec

    return load_spec(Path(path), limits)


def keras_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("keras") is not None


SpecInput = str | os.PathLike[str] | Spec | LoadedSpec


def diff(old: SpecInput, new: SpecInput, *, build: bool | None = None,
         limits: Limits = DEFAULT_LIMITS) -> SpecDiff:
    """Diff two specs or archives; with ``build`` (default: when Keras is installed) compare builds too.

    Archives are loaded (`declar.load`) for the build comparison, specs are built from their seed.
    """
    loaded = [LoadedSpec.bare(x) if isinstance(x, Spec) else x if isinstance(x, LoadedSpec) else read_spec(x, limits)
              for x in (old, new)]
    labels = [os.fspath(x) if isinstance(x, (str, os.PathLike)) else y.origin.file
              for x, y in zip((old, new), loaded, strict=True)]
    specs = [x.spec for x in loaded]
    result = diff_specs(specs[0], specs[1], labels[0], labels[1])
    if build is None:
        build = keras_available()
    if build:
        import declar

        models = [declar.load(x, compile=False, limits=limits) if not isinstance(x, Spec) and is_archive(x)
                  else declar.build(s, compile=False, distribute=False, limits=limits)
                  for x, s in zip((old, new), specs, strict=True)]
        compare_builds(result, models[0], models[1])
    return result


__all__ = ["BuildDiff", "Change", "Item", "NodeBuild", "SpecDiff", "compare_builds", "diff", "diff_specs",
           "read_spec"]
