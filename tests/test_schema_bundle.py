"""`declar schema --bundle`: one self-contained schema that other validators accept as it is,
check-jsonschema and ajv (default and strict modes), which validate every example spec with it
and flag the broken ones; and the SchemaStore catalog entry that points editors at it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from declar.cli import app
from declar.spec.bundle import references
from declar.spec.schema import LAYER_SCHEMA_FILE, schema
from tests.lsp_client import node_tool, run_ajv

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(ROOT.glob("specs/**/*.yaml"))
BROKEN = sorted((ROOT / "tests" / "editor_corpus").glob("*_form.yaml"))


@pytest.fixture(scope="module")
def bundle_file(tmp_path_factory) -> Path:
    result = CliRunner().invoke(app, ["schema", "--bundle"])
    assert result.exit_code == 0, result.output
    path = tmp_path_factory.mktemp("bundle") / "declar.schema.json"
    path.write_text(result.output)
    return path


def test_the_bundle_refers_to_no_other_file_and_keeps_the_published_id(bundle_file):
    bundled = json.loads(bundle_file.read_text())
    assert bundled["$id"] == schema()["$id"] == "https://declar.dev/schemas/declar.schema.json"
    refs = list(references(bundled))
    assert refs and all(ref.startswith("#/$defs/") for ref in refs)
    for ref in set(refs):  # every reference resolves inside the file
        target = bundled
        for part in ref[2:].split("/"):
            target = target[part]
    layers = schema(LAYER_SCHEMA_FILE)
    assert all(f"keras-{name}" in bundled["$defs"] for name in layers["$defs"])
    assert not any(isinstance(node.get("type"), list) for node in _nodes(bundled))  # no union types


def test_both_schema_files_have_ids_under_the_published_address():
    assert schema()["$id"].rsplit("/", 1) == ["https://declar.dev/schemas", "declar.schema.json"]
    assert schema(LAYER_SCHEMA_FILE)["$id"].rsplit("/", 1) == ["https://declar.dev/schemas", LAYER_SCHEMA_FILE]


def _nodes(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def _check_jsonschema(*args: object) -> subprocess.CompletedProcess:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is in the test extra: pip install -e .[test]")
    return subprocess.run([sys.executable, "-m", "check_jsonschema", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_check_jsonschema_accepts_the_bundle_and_every_example_spec(bundle_file):
    meta = _check_jsonschema("--check-metaschema", bundle_file)
    assert meta.returncode == 0, meta.stdout + meta.stderr
    done = _check_jsonschema("--schemafile", bundle_file, *SPECS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_jsonschema_flags_the_broken_specs(bundle_file):
    done = _check_jsonschema("--schemafile", bundle_file, *BROKEN)
    assert done.returncode == 1
    flagged = {line.strip().split("::", 1)[1] for line in done.stdout.splitlines() if "::" in line}
    assert flagged == {
        "$.model[0].Conv2D: Additional properties are not allowed ('filterz' was unexpected)",
        "$.model[0].Conv2D: 'filters' is a required property",
        "$.model[1]: False schema does not allow {'filters': 32, 'kernel_size': 3}",  # Conv2Dx
        "$.model[2].Conv2D: 'kernel_size' is a required property",
        "$.model.nodes.conv.Conv2D: Additional properties are not allowed ('filterz' was unexpected)",
        "$.model.nodes.conv.Conv2D: 'filters' is a required property",
        "$.model.nodes.typo: False schema does not allow {'filters': 32, 'kernel_size': 3}",
        "$.model.nodes.short.Conv2D: 'kernel_size' is a required property",
        "$.blocks.Head.nodes.typo: False schema does not allow {'units': 'width'}",  # Densse
        "$.blocks.Head.nodes.wide.Dense: Additional properties are not allowed ('unitz' was unexpected)",
        "$.blocks.Head.nodes.wide.Dense: 'units' is a required property",
    }


@pytest.fixture(scope="module")
def ajv():
    package = node_tool("ajv")
    if isinstance(package, str):
        pytest.skip(f"ajv unavailable: {package}")
    return package


@pytest.mark.parametrize("mode", ["default", "strict"])
def test_ajv_compiles_the_bundle_and_validates_every_example_spec(ajv, bundle_file, tmp_path, mode):
    instances = {str(p.relative_to(ROOT)): yaml.safe_load(p.read_text()) for p in [*SPECS, *BROKEN]}
    verdict = run_ajv(ajv, bundle_file, instances, mode, tmp_path)
    assert verdict["compiled"], verdict.get("error")
    results = verdict["results"]
    assert {name: errors for name, errors in results.items() if errors and name.startswith("specs/")} == {}
    for spec in BROKEN:
        errors = results[str(spec.relative_to(ROOT))]
        assert any("must NOT have additional properties" in e for e in errors), errors
        missing = "'units'" if spec.name == "block_form.yaml" else "'kernel_size'"
        assert any(f"must have required property {missing}" in e for e in errors), errors
        assert any("boolean schema is false" in e for e in errors), errors  # the typo of a layer name


def test_ajv_strict_refuses_what_strict_mode_is_for(ajv, bundle_file, tmp_path):
    """The strict run can fail: an unknown keyword (as `x-required` was) is refused."""
    bundled = json.loads(bundle_file.read_text())
    bundled["$defs"]["keras-Dense"]["x-required"] = ["units"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(bundled))
    verdict = run_ajv(ajv, broken, {}, "strict", tmp_path)
    assert not verdict["compiled"] and 'unknown keyword: "x-required"' in verdict["error"]


def test_the_schemastore_entry_points_at_the_published_schema():
    catalog = json.loads((ROOT / "schemas" / "schemastore-catalog.json").read_text())
    (entry,) = catalog["schemas"]
    assert entry["url"] == schema()["$id"]
    assert entry["fileMatch"] == ["*.declar.yaml", "*.declar.yml"]
    assert entry["name"] and entry["description"]
