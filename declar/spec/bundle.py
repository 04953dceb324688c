"""The spec format's JSON Schema as one self-contained file: what `declar schema --bundle` prints.

The hand-written ``declar.schema.json`` refers to the generated ``keras-layers.schema.json``
(both published under ``https://declar.dev/schemas/``). The bundle copies the layer schema's
definitions into the spec schema's ``$defs`` (``keras-Dense``, ``keras-sequentialItem``...) and
rewrites every reference to point there, so a validator or an editor needs this one file. It
also writes each union type (``"type": ["object", "null"]``) as an ``anyOf`` of one branch per
type, each with the keywords that apply to its type: the same schema, which ajv accepts in strict
mode (it refuses union types). The bundle's ``$id`` is the spec schema's: it is the file served
at that address.

Example:
    >>> bundled = bundle()
    >>> bundled["$id"], "keras-Conv2D" in bundled["$defs"]
    ('https://declar.dev/schemas/declar.schema.json', True)
    >>> any("keras-layers.schema.json" in ref for ref in references(bundled))
    False
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from declar.spec.schema import LAYER_SCHEMA_FILE, SCHEMA_FILE, schema

PREFIX = "keras-"

# The keywords that apply to one JSON type only (JSON Schema 2020-12 validation and applicators).
_TYPE_KEYWORDS = {
    "object": ("properties", "patternProperties", "additionalProperties", "required", "propertyNames",
               "minProperties", "maxProperties", "dependentRequired", "dependentSchemas", "unevaluatedProperties"),
    "array": ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains", "minContains",
              "maxContains", "unevaluatedItems"),
    "string": ("pattern", "minLength", "maxLength", "format"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
}
_TYPE_KEYWORDS["integer"] = _TYPE_KEYWORDS["number"]


def bundle() -> dict[str, Any]:
    """The spec schema with the layer schema inlined: one file, no reference to another."""
    main = schema(SCHEMA_FILE)
    layers = schema(LAYER_SCHEMA_FILE)
    out = _rewrite(main, in_layer_file=False)
    out["$defs"].update({PREFIX + name: _rewrite(definition, in_layer_file=True)
                         for name, definition in layers["$defs"].items()})
    return out


def references(node: Any) -> Iterator[str]:
    """Every ``$ref`` in a schema."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def _rewrite(node: Any, in_layer_file: bool) -> Any:
    if isinstance(node, list):
        return [_rewrite(v, in_layer_file) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rewrite_ref(v, in_layer_file) if k == "$ref" else
           v if k in ("enum", "const", "default", "examples", "defaultSnippets") else _rewrite(v, in_layer_file)
           for k, v in node.items()}
    if in_layer_file:
        out.pop("$schema", None)
        out.pop("$id", None)
    kind = out.get("type")
    return _split_union(out, kind) if isinstance(kind, list) else out


def _rewrite_ref(ref: str, in_layer_file: bool) -> str:
    document, _, pointer = ref.partition("#")
    if document == LAYER_SCHEMA_FILE or (in_layer_file and not document):
        prefix = "/$defs/"
        assert pointer.startswith(prefix), ref  # the layer schema is referred to by its definitions only
        return f"#{prefix}{PREFIX}{pointer[len(prefix):]}"
    assert not document, ref  # the spec schema refers to no other file
    return ref


def _split_union(node: dict[str, Any], kinds: list[str]) -> dict[str, Any]:
    """``{"type": [a, b], ...}`` as ``{"anyOf": [{"type": a, ...}, {"type": b, ...}], ...}``."""
    specific = {k for kind in kinds for k in _TYPE_KEYWORDS.get(kind, ())}
    branches = [{"type": kind, **{k: node[k] for k in _TYPE_KEYWORDS.get(kind, ()) if k in node}} for kind in kinds]
    rest = {k: v for k, v in node.items() if k != "type" and k not in specific}
    if "anyOf" in rest:  # keep the existing alternatives: both must hold
        rest["allOf"] = [*rest.get("allOf", []), {"anyOf": rest.pop("anyOf")}]
    return {**rest, "anyOf": branches}
