"""The JSON Schema of the spec format and the one conversion point from jsonschema's errors.

Example:
    >>> from declar.spec.source import parse_yaml
    >>> doc = parse_yaml("declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dense: {units: 1}}]\\nseeed: 3\\n")
    >>> [p.render() for p in schema_problems(doc)]
    ["<string>:5:1: error: unknown key 'seeed' (did you mean 'seed'?)"]
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from declar.problems import Problem, did_you_mean
from declar.spec.source import Document

SCHEMA_FILE = "declar.schema.json"


@functools.cache
def schema() -> dict[str, Any]:
    """The spec format's JSON Schema (Draft 2020-12), as shipped in the package."""
    return json.loads(resources.files("declar.data").joinpath(SCHEMA_FILE).read_text("utf-8"))


@functools.cache
def _validator() -> Draft202012Validator:
    # The schema has no recursive references, so they are inlined once: validation then never
    # resolves a $ref, which is most of jsonschema's time on a 1,000-layer spec.
    resolved = _inline_refs(schema(), schema()["$defs"])
    return Draft202012Validator(resolved)


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
            rest = {k: _inline_refs(v, defs) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def schema_problems(doc: Document) -> list[Problem]:
    """Every schema violation of ``doc``, each located at its line and column."""
    problems: list[Problem] = []
    for error in _validator().iter_errors(doc.data):
        problems.extend(_convert(doc, error))
    return problems


def _convert(doc: Document, error: ValidationError) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    validator = error.validator
    if validator in ("if", "then", "else") and error.context:
        for sub in error.context:
            yield from _convert(doc, sub)
        return
    if validator in ("anyOf", "oneOf") and error.context:
        # Report the branch that got furthest: the error deepest in the instance.
        deepest = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
        if len(deepest.absolute_path) > len(path):
            yield from _convert(doc, deepest)
            return
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties", {}))
        for key in error.instance:
            if key not in known:
                hint = did_you_mean(key, known) or (f"allowed keys: {', '.join(known)}" if known else "")
                yield doc.problem((*path, key), f"unknown key '{key}'", hint, "unknown-key", at_key=True)
        return
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield doc.problem(path, f"missing required key '{missing}'" + _where(path), _describe(error.schema, missing),
                          "missing-key", at_key=bool(path))
        return
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        # jsonschema reports a bad key at its parent object; point at the key itself.
        key = error.instance
        parent_schema = _schema_at(list(error.absolute_schema_path)[:-2])
        yield doc.problem((*path, key), f"'{key}' is not a valid name here", _name_hint(parent_schema), "bad-name",
                          at_key=True)
        return
    yield doc.problem(path, _message(error), _hint(error), f"schema-{validator}")


def _where(path: tuple[Any, ...]) -> str:
    return f" in {path[-1]}" if path and isinstance(path[-1], str) else ""


def _describe(schema_part: dict[str, Any], key: str) -> str:
    prop = schema_part.get("properties", {}).get(key, {})
    return prop.get("description", "")


def _schema_at(schema_path: list[Any]) -> dict[str, Any]:
    node: Any = _validator().schema
    for part in schema_path:
        node = node[part]
    return node if isinstance(node, dict) else {}


def _name_hint(parent_schema: dict[str, Any]) -> str:
    names = parent_schema.get("propertyNames", {})
    if names.get("pattern", "").startswith("^[A-Z]") or names.get("$ref", "").endswith("typeName"):
        return "layer type names are CamelCase, e.g. Dense or MyLayer"
    return "names are Python identifiers: letters, digits and _, not starting with a digit"


def _message(error: ValidationError) -> str:
    value = error.instance
    shown = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    v = error.validator
    if v == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {expected}, got {_json_type(value)} {shown}"
    if v == "enum":
        return f"{shown} is not one of {', '.join(json.dumps(x) for x in error.validator_value)}"
    if v == "const":
        return f"expected {json.dumps(error.validator_value)}, got {shown}"
    if v == "pattern":
        return f"{shown} is not a valid name"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{shown} is out of range ({v} {error.validator_value})"
    return error.message


def _hint(error: ValidationError) -> str:
    if error.validator == "enum" and isinstance(error.instance, str):
        return did_you_mean(error.instance, [str(x) for x in error.validator_value])
    if error.validator == "const" and error.absolute_path and error.absolute_path[-1] == "declar":
        return "this declar reads format version 1"
    return error.schema.get("description", "")[:120] if error.validator == "type" else ""


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
