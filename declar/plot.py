"""Draw a spec's graph (`declar plot`): DOT text made from the Spec, rendered by Graphviz's `dot`.

The DOT text is generated here rather than by `keras.utils.plot_model`, which labels a custom
layer with its Python class (`DeclarLayer` for every custom type) and needs pydot: here a node
shows its name and layer type, custom types are filled in another colour and say what they
extend, a shared layer's reuse is a dashed edge, inputs and outputs are marked. Writing DOT needs
neither Keras nor Graphviz; output shapes and parameter counts are added when a built model is
given. Images (png, svg, pdf) are rendered by running `dot`.

Example:
    >>> from declar.spec.load import load_spec
    >>> text = to_dot(load_spec("specs/keras_guide/custom_build.yaml").spec)
    >>> text.splitlines()[0]
    'digraph "custom_build_model" {'
    >>> "LayerWithCustomBuild (custom, extends Layer)" in text
    True
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from declar.errors import PlotError
from declar.spec.model import NodeSpec, Spec
from declar.spec.refs import call_refs, node_dependencies, parse_ref
from declar.summary import layer_rows

IMAGE_FORMATS = ("png", "svg", "pdf")
CUSTOM_COLOUR = "#ffd8a8"
BUILTIN_COLOUR = "#dbe4ff"
INPUT_COLOUR = "#d3f9d8"
INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: apt install graphviz; macOS: brew install graphviz; "
                "conda: conda install graphviz)")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape(shape: Any) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def to_dot(spec: Spec, model: Any = None) -> str:
    """The DOT text of a spec's graph; with a built ``model``, output shapes and parameter counts."""
    built = {row.name: row for row in layer_rows(model) if row.output_shape} if model is not None else {}
    lines = [f"digraph {_quote(spec.name)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for i in spec.inputs:
        label = f"{i.name}\nInput {_shape((None, *i.shape))}" + (f" {i.dtype}" if i.dtype != "float32" else "")
        lines.append(f"  {_quote(i.name)} [label={_quote(label)}, shape=ellipse, fillcolor={_quote(INPUT_COLOUR)}];")
    nodes = {n.name: n for n in spec.nodes}
    for node in spec.nodes:
        layer_type = node.layer or (nodes[node.shares].layer if node.shares in nodes else None) or ""
        custom = layer_type in spec.layer_types
        kind = f"{layer_type} (custom, extends {spec.layer_types[layer_type].extends})" if custom else layer_type
        label = f"{node.name}\n{kind}" if node.op is None else f"{node.name}\nop: {node.op}"
        if node.shares:
            label += f"\nshares {node.shares}"
        if node.repeat is not None:
            label += f"\nrepeat {node.repeat}"
        layer_name = node.args.get("name") or node.name
        if layer_name in built and not node.shares:
            row = built[layer_name]
            label += f"\noutput {row.output_shape}\n{row.params:,} params"
        colour = CUSTOM_COLOUR if custom else BUILTIN_COLOUR
        extra = ", peripheries=2" if node.name in {parse_ref(r).name for r in spec.outputs.refs} else ""
        lines.append(f"  {_quote(node.name)} [label={_quote(label)}, fillcolor={_quote(colour)}{extra}];")
    names = {*(i.name for i in spec.inputs), *nodes}
    for node in spec.nodes:
        if node.layer in spec.blocks:  # its inputs go into the block's cluster, whose outputs come here
            lines += _block_cluster(spec, node)
            continue
        for k, ref in enumerate(node.inputs):
            shown = str(k) if len(node.inputs) > 1 else ref if ref != parse_ref(ref).name else ""
            attrs = f" [label={_quote(shown)}]" if shown else ""
            lines.append(f"  {_quote(parse_ref(ref).name)} -> {_quote(node.name)}{attrs};")
        for where, ref in call_refs(node.call):  # further call arguments, labelled by parameter
            shown = str(where[0]) if ref == parse_ref(ref).name else f"{where[0]}: {ref}"
            lines.append(f"  {_quote(parse_ref(ref).name)} -> {_quote(node.name)} [label={_quote(shown)}];")
        if node.op is not None:
            for dep in node_dependencies(node, names):
                lines.append(f"  {_quote(dep)} -> {_quote(node.name)};")
        if node.shares:
            lines.append(f'  {_quote(node.shares)} -> {_quote(node.name)} [style=dashed, arrowhead=none, '
                         f'constraint=false, color="#868e96", label="shared"];')
    if not spec.sequential:
        for out_name, ref in zip(spec.outputs.names, spec.outputs.refs, strict=True):
            if out_name != ref:
                target = f"output:{out_name}"
                lines.append(f"  {_quote(target)} [label={_quote(out_name)}, shape=plaintext, style=\"\"];")
                lines.append(f"  {_quote(parse_ref(ref).name)} -> {_quote(target)};")
    if spec.layer_types:
        legend = "custom layer types: " + ", ".join(sorted(spec.layer_types))
        lines.append(f"  legend [label={_quote(legend)}, shape=note, fillcolor={_quote(CUSTOM_COLOUR)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _block_cluster(spec: Spec, use: NodeSpec) -> list[str]:
    """A block use drawn as a cluster of the block's nodes (one level: blocks inside are boxes),
    fed by the use's inputs and feeding the use's own box, which stands for its outputs."""
    block = spec.blocks[use.layer or ""]
    inner = {n.name for n in block.graph.nodes}
    outer = dict(zip(block.graph.inputs, use.inputs, strict=False))

    def ident(ref: str) -> str:
        return _quote(f"{use.name}/{ref}" if ref in inner else outer.get(ref, ref))

    title = f"{use.name}: block {block.name}" + (f", repeated {use.repeat} times" if use.repeat is not None else "")
    lines = [f"  subgraph {_quote('cluster_' + use.name)} {{", f"    label={_quote(title)};",
             '    style="rounded,dashed"; color="#868e96";', f"    {_quote(use.name)};"]
    for node in block.graph.nodes:
        label = f"{node.name}\n{node.layer or 'shares ' + (node.shares or '')}"
        lines.append(f"    {ident(node.name)} [label={_quote(label)}, fillcolor={_quote(BUILTIN_COLOUR)}];")
    lines.append("  }")
    for node in block.graph.nodes:
        lines += [f"  {ident(ref)} -> {ident(node.name)};" for ref in node.inputs]
    lines += [f"  {ident(ref)} -> {_quote(use.name)};" for ref in block.graph.outputs.refs if ref in inner]
    return lines


def output_format(path: str | os.PathLike[str]) -> str:
    """``dot`` or an image format, from the file name; `PlotError` for anything else."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("dot", "gv"):
        return "dot"
    if suffix in IMAGE_FORMATS:
        return suffix
    raise PlotError(f"{path}: cannot tell the format from the name; use .dot (DOT text, no Graphviz needed) "
                    f"or {', '.join('.' + f for f in IMAGE_FORMATS)}", file=os.fspath(path))


def dot_program() -> str | None:
    """Path of Graphviz's `dot`, or None when it is not installed."""
    return shutil.which("dot")


def check_can_write(path: str | os.PathLike[str]) -> str:
    """The format for ``path``, or `PlotError` when it cannot be written here (before any work is done)."""
    fmt = output_format(path)
    out = Path(path)
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise PlotError(f"{path}: directory {out.parent} does not exist", file=os.fspath(path))
    if fmt != "dot" and dot_program() is None:
        raise PlotError(f"{path}: drawing a .{fmt} needs the `dot` program of Graphviz, which is not installed; "
                        f"{INSTALL_HINT}; or write the graph as DOT text, which needs no Graphviz, with "
                        f"-o {out.with_suffix('.dot')}", file=os.fspath(path))
    return fmt


def write(dot_text: str, path: str | os.PathLike[str]) -> None:
    """Write DOT text, or render it with `dot` to an image, chosen by ``path``'s extension."""
    fmt = check_can_write(path)
    out = Path(path)
    if fmt == "dot":
        out.write_text(dot_text, encoding="utf-8")
        return
    program = dot_program() or "dot"
    proc = subprocess.run([program, f"-T{fmt}", "-o", str(out)], input=dot_text, text=True, capture_output=True)
    if proc.returncode != 0:
        raise PlotError(f"{path}: Graphviz's dot failed: {proc.stderr.strip()[-500:]}", file=os.fspath(path))


__all__ = ["PlotError", "check_can_write", "dot_program", "output_format", "to_dot", "write"]
