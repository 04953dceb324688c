"""The section registry agrees with the schema and the Spec; only the format and the sections read
raw spec data (the archive's serializer excepted)."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from declar.sections import SECTIONS, section_of
from declar.spec.load import load_spec
from declar.spec.model import Spec

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "declar.schema.json").read_text())
EXAMPLES = sorted((ROOT / "specs").rglob("*.yaml"))


def test_the_registry_owns_exactly_the_schemas_top_level_properties():
    owned = [key for section in SECTIONS for key in section.keys]
    assert len(owned) == len(set(owned)), "a key is owned by two sections"
    assert set(owned) == set(SCHEMA["properties"])


def test_the_registry_fills_exactly_the_typed_fields_of_the_spec():
    filled = [name for section in SECTIONS for name in section.fields]
    typed = [f.name for f in dataclasses.fields(Spec) if not f.name.startswith("_")]
    assert sorted(filled) == sorted(typed)


@pytest.mark.parametrize("path", EXAMPLES[:12], ids=lambda p: p.name)
def test_each_sections_from_data_makes_the_specs_typed_part(path):
    loaded = load_spec(path)
    data = loaded.spec.to_data()
    for section in SECTIONS:
        made = section.from_data(data)
        expected = tuple(getattr(loaded.spec, name) for name in section.fields)
        assert (made if len(section.fields) > 1 else (made,)) == expected, section.name


def test_every_section_is_documented():
    for section in SECTIONS:
        assert section.summary and section.from_data.__module__.startswith("declar.")
    assert section_of("dtype_policy").name == "header" and section_of("layers").name == "layers"


# -- who reads raw spec data ------------------------------------------------------------------

ALLOWED_PACKAGES = ("declar/spec/", "declar/sections/")
RAW_READERS = {"_data", "section_data", "written_keys"}
SERIALIZER = ("declar/keras/model.py", "get_config")  # the archive embeds the spec's JSON data


def raw_reads(path: Path, name: str | None = None) -> list[str]:
    """Every read of raw spec data in a module: the Spec's private data and section accessors, and
    calls of its serializer outside the archive's `get_config`."""
    name = name or str(path.relative_to(ROOT))
    tree = ast.parse(path.read_text())
    found: list[str] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Attribute):
                where = f"{name}:{child.lineno} {ast.unparse(child)}"
                if child.attr in RAW_READERS:
                    found.append(where)
                elif child.attr == "to_data" and (name, function) != SERIALIZER:
                    found.append(where)
            visit(child, inner)

    visit(tree, "")
    return found


def test_nothing_outside_the_format_and_the_sections_reads_raw_spec_data():
    modules = [p for p in (ROOT / "declar").rglob("*.py")
               if not str(p.relative_to(ROOT)).startswith(ALLOWED_PACKAGES)]
    assert modules
    assert [read for p in modules for read in raw_reads(p)] == []
    assert not hasattr(Spec, "data"), "the Spec's data is read through its typed fields"


def test_the_raw_data_detector_finds_a_read_and_allows_the_serializer(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text("def f(spec):\n    return spec.section_data('compile'), spec.to_data()\n"
                      "def get_config(spec):\n    return spec.to_data()\n")
    assert [r.split(" ", 1)[1] for r in raw_reads(module, "declar/x.py")] == ["spec.section_data", "spec.to_data",
                                                                            "spec.to_data"]
    assert [r.split(" ", 1)[1] for r in raw_reads(module, SERIALIZER[0])] == ["spec.section_data", "spec.to_data"]
