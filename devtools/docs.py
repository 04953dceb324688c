"""Reference documentation generated from the code, so it cannot drift from it.

docs/spec-reference.md (from the JSON Schema), and in README.md the function table (from
`declar.expr.ops`) and the limits table (from `declar.Limits`). ``python -m devtools.generate``
writes them; a test fails when any of them is stale.

Example:
    >>> spec_reference().splitlines()[0]
    '# declar spec reference (format version 2)'
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import json
from pathlib import Path
from typing import Any

import yaml

from declar.expr.ops import BASE, OPS, RANDOM_OPS
from declar.limits import Limits
from declar.spec.schema import schema
from declar.spec.versions import FORMAT_VERSION

ROOT = Path(__file__).resolve().parent.parent


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "enum" in prop:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    kind = prop.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    extra = prop.get("additionalProperties")
    if kind == "object" and isinstance(extra, dict) and "$ref" in extra:
        return f"mapping of name to {_type_of(extra)}"
    items = prop.get("items")
    if "array" in kind and isinstance(items, dict) and "$ref" in items:
        return f"list of {_type_of(items)}"
    return kind


def _table(node: dict[str, Any]) -> list[str]:
    props = node.get("properties") or {}
    if not props:
        return []
    required = set(node.get("required", []))
    rows = ["| key | type | required | default | description |", "|---|---|---|---|---|"]
    for key, prop in props.items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        description = prop.get("description", "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{key}` | {_type_of(prop)} | {'yes' if key in required else ''} | {default} | {description} |")
    return rows


def spec_reference() -> str:
    """The spec format as Markdown: one section for the top level and one per definition."""
    s = schema()
    out = [f"# declar spec reference (format version {FORMAT_VERSION})", "",
           "Generated from `schemas/declar.schema.json` by `python -m devtools.generate`; do not edit by hand.", "",
           "## Top level", "", s.get("description", ""), "", *_table(s), ""]
    for name, node in s["$defs"].items():
        out += [f"## {name}", ""]
        if node.get("description"):
            out += [node["description"], ""]
        table = _table(node)
        out += table or [f"Type: {_type_of(node)}" + (f", pattern `{node['pattern']}`" if "pattern" in node else "")]
        out.append("")
        for example in node.get("examples", []) if isinstance(node.get("examples"), list) else []:
            out += ["```yaml", _yaml(example).rstrip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"


def _yaml(example: Any) -> str:
    """A schema example (JSON) as the YAML a spec would write: block style, flow style inside a node."""
    if isinstance(example, dict):
        return "".join(yaml.safe_dump({k: v}, sort_keys=False, default_flow_style=None, width=110)
                       for k, v in example.items())
    return yaml.safe_dump(example, sort_keys=False, default_flow_style=None, width=110)


def limits_table() -> str:
    """Every field of `declar.Limits` as a Markdown table: name, default, and its docstring.

    Example:
        >>> limits_table().splitlines()[2].startswith("| `max_file_bytes` | 2,000,000 |")
        True
    """
    # Attribute docstrings are not kept at run time; they are read from the class's source.
    body = ast.parse(inspect.getsource(Limits)).body[0].body  # type: ignore[attr-defined]
    docs = {stmt.target.id: " ".join(after.value.value.split())
            for stmt, after in itertools.pairwise(body)
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)}
    rows = ["| limit | default | what it bounds |", "|---|---|---|"]
    rows += [f"| `{f.name}` | {f.default:,} | {docs.get(f.name, '')} |" for f in dataclasses.fields(Limits)]
    return "\n".join(rows) + "\n"


def replace_section(text: str, marker: str, content: str) -> str:
    """``text`` with what stands between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` replaced."""
    start, end = f"<!-- {marker}:start -->\n", f"<!-- {marker}:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}{content}{end}{tail}"


def ops_table() -> str:
    """The function table of the expression language as Markdown: ``base`` and every entry of OPS.

    Example:
        >>> ops_table().splitlines()[2].startswith("| `base(*args)` |")
        True
    """
    rows = ["| function | what it does |", "|---|---|"]
    rows += [f"| `{s.render()}` | {s.summary} |" for s in (BASE, *OPS.values(), *RANDOM_OPS.values())]
    return "\n".join(rows) + "\n"


def readme(text: str) -> str:
    """The README ``text`` with its generated tables (functions, limits) rewritten."""
    return replace_section(replace_section(text, "ops", ops_table()), "limits", limits_table())
