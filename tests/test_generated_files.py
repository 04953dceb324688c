"""Files generated from code or from the installed Keras stay in sync with their source."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_keras_catalog_matches_the_installed_keras():
    """Fails when Keras adds, removes or renames layers or arguments: run `python -m devtools.generate`."""
    from declar.spec.catalog import CATALOG_FILE
    from devtools.catalog import generate, render

    committed = (ROOT / "declar" / "data" / CATALOG_FILE).read_text()
    assert json.loads(committed) == json.loads(render(generate())), "run `python -m devtools.generate`"


def test_layer_argument_schema_matches_the_installed_keras():
    from devtools import layer_schema
    from devtools.catalog import generate

    committed = (ROOT / "schemas" / "keras-layers.schema.json").read_text()
    assert json.loads(committed) == json.loads(layer_schema.render(generate())), "run `python -m devtools.generate`"


def test_spec_reference_is_generated_from_the_schema():
    from devtools.docs import spec_reference

    assert (ROOT / "docs" / "spec-reference.md").read_text() == spec_reference(), "run `python -m devtools.generate`"


def test_packaged_schema_is_the_one_in_schemas():
    from declar.spec.schema import schema

    assert schema() == json.loads((ROOT / "schemas" / "declar.schema.json").read_text())


def test_every_schema_property_has_a_description():
    from declar.spec.schema import schema

    missing = []

    def visit(node, path):
        if isinstance(node, dict):
            for key, prop in (node.get("properties") or {}).items():
                if isinstance(prop, dict) and "description" not in prop and "$ref" not in prop:
                    missing.append(f"{path}.{key}")
            for key, value in node.items():
                visit(value, f"{path}.{key}")

    visit(schema(), "$")
    assert not missing, missing


def test_every_example_spec_carries_the_schema_modeline():
    for spec in sorted(ROOT.glob("specs/**/*.yaml")):
        first = spec.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), spec
        target = (spec.parent / first.split("=", 1)[1]).resolve()
        assert target == (ROOT / "schemas" / "declar.schema.json").resolve(), spec


def test_every_example_of_a_graph_node_or_block_in_the_schema_is_valid():
    """The spec reference shows the schema's examples: each must be what the schema accepts."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    from declar.spec.schema import schema

    main, layers = schema(), schema("keras-layers.schema.json")
    registry = Registry().with_resources([(name, Resource.from_contents(s)) for name, s in
                                          (("declar.schema.json", main), ("keras-layers.schema.json", layers))])
    checked = 0
    for name in ("node", "block"):
        validator = Draft202012Validator({"$defs": main["$defs"], "$ref": f"#/$defs/{name}"}, registry=registry)
        for example in main["$defs"][name].get("examples", []):
            for value in example.values():
                assert not list(validator.iter_errors(value)), (name, value)
                checked += 1
    assert checked >= 7
