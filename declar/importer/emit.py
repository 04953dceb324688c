"""Spec data as the YAML a person would write: sections in block style, one node per line.

Example:
    >>> print(spec_text({"declar": 2, "name": "m", "inputs": {"x": {"shape": [4]}},
    ...                  "model": [{"Dense": {"units": 2}}]}, schema_ref="s.json", header=["A model."]))
    # yaml-language-server: $schema=s.json
    # A model.
    declar: 2
    name: m
    inputs:
      x: {shape: [4]}
    model:
      - Dense: {units: 2}
    <BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


def flow(value: Any) -> str:
    """One value in YAML flow style on one line (``{units: 4, activation: relu}``)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=2**31, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _mapping(data: dict[str, Any], indent: int) -> Iterable[str]:
    pad = " " * indent
    for key, value in data.items():
        yield f"{pad}{key}: {flow(value)}"


def _nodes(nodes: dict[str, Any], indent: int) -> Iterable[str]:
    pad = " " * indent
    for name, node in nodes.items():
        yield f"{pad}{name}: {flow(node)}"


def _graph(graph: dict[str, Any], indent: int) -> Iterable[str]:
    pad = " " * indent
    for key, value in graph.items():
        if key == "nodes":
            yield f"{pad}nodes:"
            yield from _nodes(value, indent + 2)
        else:
            yield f"{pad}{key}: {flow(value)}"


def spec_text(data: dict[str, Any], *, schema_ref: str, header: Iterable[str] = ()) -> str:
    """The spec file: the editor's schema modeline, ``header`` as comments, then the sections."""
    lines = [f"# yaml-language-server: $schema={schema_ref}", *(f"# {line}" for line in header)]
    for key, value in data.items():
        if key == "inputs":
            lines.append("inputs:")
            lines += _mapping(value, 2)
        elif key == "blocks":
            lines.append("blocks:")
            for name, block in value.items():
                lines.append(f"  {name}:")
                lines += _graph(block, 4)
        elif key == "model" and isinstance(value, list):
            lines.append("model:")
            lines += [f"  - {flow(item)[1:-1]}" if len(item) == 1 else f"  - {flow(item)}" for item in value]
        elif key == "model":
            lines.append("model:")
            lines += _graph(value, 2)
        elif key == "compile":
            lines.append("compile:")
            lines += _mapping(value, 2)
        else:
            lines.append(f"{key}: {flow(value)}")
    return "\n".join(lines) + "\n"


__all__ = ["flow", "spec_text"]
