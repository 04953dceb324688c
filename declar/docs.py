"""Reference documentation generated from the code, so it cannot drift from it.

``python -m declar.docs`` rewrites docs/spec-reference.md (from the JSON Schema) and the function
table in README.md (from declar.expr.ops); a test fails when either is stale.

Example:
    >>> from declar.docs import spec_reference
    >>> spec_reference().splitlines()[0]
    '# declar spec reference (format version 1)'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from declar.spec.schema import schema

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
    out = ["# declar spec reference (format version 1)", "",
           "Generated from `schemas/declar.schema.json` by `python -m declar.docs`; do not edit by hand.", "",
           "## Top level", "", s.get("description", ""), "", *_table(s), ""]
    for name, node in s["$defs"].items():
        out += [f"## {name}", ""]
        if node.get("description"):
            out += [node["description"], ""]
        table = _table(node)
        out += table or [f"Type: {_type_of(node)}" + (f", pattern `{node['pattern']}`" if "pattern" in node else "")]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    from declar.expr.ops import update_readme

    target = ROOT / "docs" / "spec-reference.md"
    target.write_text(spec_reference(), encoding="utf-8")
    update_readme(str(ROOT / "README.md"))
    print(f"wrote {target} and the README's function table")


if __name__ == "__main__":
    main()
