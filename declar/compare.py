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

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from declar.archive import inspect_archive, is_archive
from declar.limits import DEFAULT_LIMITS, Limits
from declar.sections import SECTIONS
from declar.sections.changes import MISSING, Change, Item, changes, same, show
from declar.spec.load import load_spec, spec_from_data
from declar.spec.loaded import LoadedSpec
from declar.spec.model import Spec
from declar.summary import layer_rows
from declar.text import escape, md_code, md_text


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
    blocks: list[Item] = field(default_factory=list)
    functions: list[Item] = field(default_factory=list)
    compile: list[Change] = field(default_factory=list)
    build: BuildDiff | None = None
    renames: dict[str, str] = field(default_factory=dict)
    """New node name -> old node name, for nodes matched under another name."""

    SECTIONS = ("settings", "inputs", "nodes", "outputs", "layer_types", "blocks", "functions", "compile")
    TITLES = {"settings": "settings", "inputs": "inputs", "nodes": "nodes", "outputs": "outputs",
              "layer_types": "custom layer types", "blocks": "blocks", "functions": "functions",
              "compile": "compile"}

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


# -- the diff# -- the diff ------------------------------------------------------------------------------


def diff_specs(old: Spec, new: Spec, old_label: str | None = None, new_label: str | None = None) -> SpecDiff:
    """The semantic difference between two checked specs: each section's diff rule, in order."""
    result = SpecDiff(old_label or "<string>", new_label or "<string>")
    for section in SECTIONS:
        section.diff(old, new, result)
    return result


# -- builds (Keras)# -- builds (Keras) ------------------------------------------------------------------------


def build_summary(model: Any) -> tuple[dict[str, tuple[int, str]], int, str]:
    """Per layer (params, output shape), total params and the model's output shape."""
    rows = {row.name: (row.params, row.output_shape) for row in layer_rows(model)}
    output = model.output_shape
    if isinstance(output, dict):
        output = {k: output[k] for k in sorted(output)}
    return rows, model.count_params(), str(output)


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


def read_spec(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> LoadedSpec:
    """The checked spec of a spec file, or the embedded spec of a .keras archive (checked like a file).

    Raises `SpecError` (located problems) or `ArchiveError`.
    """
    if is_archive(path):
        info = inspect_archive(path)
        return spec_from_data(info["spec"], sha256=info["recorded_sha256"], name=f"{path} (embedded spec)",
                              limits=limits)
    return load_spec(Path(path), limits)


def keras_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("keras") is not None


__all__ = ["BuildDiff", "Change", "Item", "NodeBuild", "SpecDiff", "changes", "compare_builds", "diff_specs",
           "keras_available", "read_spec", "same", "show"]
