"""Format versions: format 1 specs read as format 2, and `declar migrate` rewrites them, comments kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.migration import rewrite
from declar.spec.schema import LAYER_SCHEMA_FILE, schema
from declar.spec.source import parse_yaml
from declar.spec.versions import FORMAT_VERSION, UPGRADERS, upgrade

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
OLD_ARCHIVE = ROOT / "tests" / "fixtures" / "archives" / "declar-0.1.0" / "two_input_residual.keras"

FORMAT_1 = """\
# A two-branch model, written in format 1.
declar: 1
name: commented
inputs:
  x: {shape: [4]}

model:
  nodes:
    # the hidden layer, block style
    hidden:
      layer: Dense      # a plain Dense
      args:             # its arguments
        units: 8        # eight units
        activation: relu

      inputs: x
    flat: {layer: Flatten, inputs: hidden}  # flow style, no args
    out:
      inputs: flat
      # the layer comes after its inputs here
      layer: Dense
      description: the head
      args: {units: 1}  # one output

    again: {shares: out, inputs: hidden}  # sharing nodes do not change
  outputs: [out, again]
"""

# Every comment and blank line stays; comments keep their column (so aligned comments stay aligned);
# the comments of `layer:` and `args:` share the new key's line.
FORMAT_2 = """\
# A two-branch model, written in format 1.
declar: 2
name: commented
inputs:
  x: {shape: [4]}

model:
  nodes:
    # the hidden layer, block style
    hidden:
      Dense:            # a plain Dense  # its arguments
        units: 8        # eight units
        activation: relu

      inputs: x
    flat: {Flatten: {}, inputs: hidden}     # flow style, no args
    out:
      inputs: flat
      # the layer comes after its inputs here
      Dense: {units: 1} # one output
      description: the head

    again: {shares: out, inputs: hidden}  # sharing nodes do not change
  outputs: [out, again]
"""


@pytest.fixture
def old_spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(FORMAT_1)
    return path


def test_the_chain_reaches_the_current_version() -> None:
    assert sorted(UPGRADERS) == list(range(1, FORMAT_VERSION)), "one upgrader for every older format"
    assert all(step.__doc__ and "Format" in step.__doc__ for step in UPGRADERS.values())  # says what and why


def test_migrate_keeps_every_comment_blank_line_and_style(old_spec: Path) -> None:
    result = runner.invoke(app, ["migrate", str(old_spec)])
    assert result.exit_code == 0, result.output
    assert result.output == f"migrated {old_spec} from format 1 to 2 (3 graph nodes)\n"
    assert old_spec.read_text() == FORMAT_2


def test_migrated_spec_is_the_in_memory_upgrade(old_spec: Path, tmp_path: Path) -> None:
    upgraded_in_memory = declar.load_spec(old_spec).spec
    declar.migrate(old_spec, tmp_path / "new.yaml")
    migrated = declar.load_spec(tmp_path / "new.yaml").spec
    assert migrated.sha256 == upgraded_in_memory.sha256
    assert migrated == upgraded_in_memory
    assert migrated.node("hidden").args == {"units": 8, "activation": "relu"}
    assert old_spec.read_text() == FORMAT_1  # -o leaves the original alone


def test_migrated_spec_builds_the_same_model(old_spec: Path, tmp_path: Path) -> None:
    declar.migrate(old_spec, tmp_path / "new.yaml")
    before, after = declar.build(old_spec), declar.build(tmp_path / "new.yaml")
    assert [layer.get_config() for layer in before.layers] == [layer.get_config() for layer in after.layers]
    assert all((a == b).all() for a, b in zip(before.get_weights(), after.get_weights(), strict=True))


def test_round_trip_tree_and_plain_data_upgrade_alike() -> None:
    text, changes = rewrite(FORMAT_1)
    doc = parse_yaml(FORMAT_1)
    assert parse_yaml(text).data == upgrade(doc).document.data
    assert changes == ["3 graph nodes"]


def test_check_reports_without_writing(old_spec: Path, tmp_path: Path) -> None:
    current = tmp_path / "current.yaml"
    current.write_text(FORMAT_2)
    result = runner.invoke(app, ["migrate", "--check", str(old_spec), str(current)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"would migrate {old_spec} from format 1 to 2 (3 graph nodes)",
                                          f"{current} is already format 2"]
    assert old_spec.read_text() == FORMAT_1
    assert runner.invoke(app, ["migrate", "--check", str(current)]).exit_code == 0


def test_a_current_spec_is_left_byte_identical(tmp_path: Path) -> None:
    current = tmp_path / "current.yaml"
    current.write_bytes(FORMAT_2.replace("\n", "\r\n").encode())  # even its line endings
    before = current.stat().st_mtime_ns
    result = declar.migrate(current)
    assert not result.changed and not result.written
    assert current.read_bytes() == FORMAT_2.replace("\n", "\r\n").encode()
    assert current.stat().st_mtime_ns == before


def test_in_place_rewrite_is_atomic(old_spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_spec.chmod(0o640)

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(declar.DeclarError, match="cannot write the spec: disk full"):
        declar.migrate(old_spec)
    assert old_spec.read_text() == FORMAT_1
    assert os.listdir(old_spec.parent) == ["spec.yaml"]  # no temporary file left behind
    monkeypatch.undo()
    declar.migrate(old_spec)
    assert old_spec.read_text() == FORMAT_2
    assert old_spec.stat().st_mode & 0o777 == 0o640
    assert os.listdir(old_spec.parent) == ["spec.yaml"]


def test_format_1_mistakes_are_located_in_the_original_text(tmp_path: Path) -> None:
    spec = tmp_path / "old.yaml"
    spec.write_text(FORMAT_1.replace("units: 8 ", "unit: 8  ").replace("layer: Flatten", "layer: Flaten"))
    assert [p.render() for p in declar.validate(spec)] == [
        f"{spec}:13:9: error: 'Dense' has no argument 'unit' (did you mean 'units'?)",
        f"{spec}:13:9: error: 'Dense' needs argument 'units'",  # at the value of `args:`, as format 1 said
        f"{spec}:17:19: error: unknown layer type 'Flaten' (did you mean 'Flatten'?)",  # at `layer:`'s value
    ]


def test_a_newer_version_is_refused_where_it_is_written(tmp_path: Path) -> None:
    spec = tmp_path / "new.yaml"
    spec.write_text(FORMAT_2.replace("declar: 2", "declar: 3"))
    problems = declar.validate(spec)
    assert [(p.line, p.col, p.message, p.hint) for p in problems] == [
        (2, 9, "format version 3 is newer than this declar reads (up to 2)", "upgrade declar: pip install -U declar")]
    result = runner.invoke(app, ["migrate", str(spec)])
    assert result.exit_code == 1
    assert f"{spec}:2:9: error: format version 3 is newer" in result.output
    assert spec.read_text() == FORMAT_2.replace("declar: 2", "declar: 3")


def test_two_layers_in_one_node_are_reported_at_the_second(tmp_path: Path) -> None:
    spec = tmp_path / "two.yaml"
    spec.write_text(FORMAT_2.replace("Dense: {units: 1}", "Dense: {units: 1}\n      Dropout: {rate: 0.1}"))
    assert [p.render() for p in declar.validate(spec)] == [
        f"{spec}:21:7: error: node 'out' names two layers, Dense and Dropout (a node applies one layer: give the "
        "other a node of its own)"]


def test_args_without_a_layer_are_not_migrated(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    text = FORMAT_1.replace("again: {shares: out, inputs: hidden}", "again: {shares: out, inputs: hidden, args: {}}")
    spec.write_text(text)
    result = runner.invoke(app, ["migrate", str(spec)])
    assert result.exit_code == 1
    assert f"{spec}:25:48: error: a node that shares a layer takes no args" in result.output
    assert spec.read_text() == text


def test_hostile_yaml_never_reaches_the_rewriter(tmp_path: Path) -> None:
    spec = tmp_path / "hostile.yaml"
    spec.write_text(FORMAT_1)
    result = runner.invoke(app, ["--limit", "max_file_bytes=100", "migrate", str(spec)])
    assert result.exit_code == 1 and "over the limit of 100" in result.output
    spec.write_text("declar: !!python/object:os.system 1\n")
    result = runner.invoke(app, ["migrate", str(spec)])
    assert result.exit_code == 1 and "explicit YAML tag" in result.output
    bomb = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
    spec.write_text(FORMAT_1 + "l0: &l0 [x]\n" + bomb)
    result = runner.invoke(app, ["migrate", str(spec)])
    assert result.exit_code == 1 and "document expands to more than" in result.output
    assert spec.read_text() == FORMAT_1 + "l0: &l0 [x]\n" + bomb


def test_an_old_archive_is_inspected_as_format_1_upgraded() -> None:
    result = runner.invoke(app, ["inspect", str(OLD_ARCHIVE)])
    assert result.exit_code == 0, result.output
    assert "format:   1 (upgraded to format 2 when loaded)\n" in result.output
    info = json.loads(runner.invoke(app, ["inspect", str(OLD_ARCHIVE), "--format", "json"]).output)
    assert (info["format_version"], info["upgraded_to"]) == ("1", 2)


def test_every_example_spec_is_current() -> None:
    for spec in [*ROOT.glob("specs/**/*.yaml"), *ROOT.glob("tests/specs/*.yaml")]:
        assert parse_yaml(spec.read_text()).data["declar"] == FORMAT_VERSION, f"run `declar migrate {spec}`"


def test_a_format_1_spec_and_its_migration_do_not_differ(old_spec: Path, tmp_path: Path) -> None:
    declar.migrate(old_spec, tmp_path / "new.yaml")
    assert declar.diff(old_spec, tmp_path / "new.yaml", build=False).equal


def test_the_editor_schema_checks_graph_node_arguments_too() -> None:
    layers = schema(LAYER_SCHEMA_FILE)
    registry = Registry().with_resources([(LAYER_SCHEMA_FILE, Resource.from_contents(layers)),
                                          (layers["$id"], Resource.from_contents(layers))])
    validator = Draft202012Validator(schema(), registry=registry)  # every $ref followed, as an editor does
    for spec in [*ROOT.glob("specs/**/*.yaml"), *ROOT.glob("tests/specs/*.yaml")]:
        assert not list(validator.iter_errors(parse_yaml(spec.read_text()).data)), spec
    wrong = parse_yaml(FORMAT_2.replace("units: 8 ", "units: x ")).data
    assert [list(e.absolute_path) for e in validator.iter_errors(wrong)] == [
        ["model", "nodes", "hidden", "Dense", "units"]]


def test_saving_an_old_archive_writes_the_current_format(tmp_path: Path) -> None:
    model = declar.load(OLD_ARCHIVE)
    assert model.declar_spec.header.format_version == FORMAT_VERSION
    declar.save(model, tmp_path / "again.keras")
    info = declar.inspect(tmp_path / "again.keras")
    assert (info["format_version"], info["upgraded_to"]) == (str(FORMAT_VERSION), None)
    assert info["sha256"] == model.declar_spec.sha256
    assert info["source_verified"]  # the format-1 text as written still matches the upgraded spec


def test_a_format_1_node_in_a_format_2_spec_says_how_to_write_it(tmp_path: Path) -> None:
    spec = tmp_path / "mixed.yaml"
    spec.write_text(FORMAT_2.replace("{Flatten: {}, inputs: hidden}", "{layer: Flatten, inputs: hidden}")
                    .replace("units: 8 ", "unit: 8  "))
    assert [p.render() for p in declar.validate(spec)] == [
        f"{spec}:12:9: error: 'Dense' has no argument 'unit' (did you mean 'units'?)",  # the rest is still checked
        f"{spec}:12:9: error: 'Dense' needs argument 'units'",
        f"{spec}:16:12: error: unknown key 'layer' (a layer is a CamelCase key, e.g. `Dense: {{units: 8}}`; other "
        "keys: shares, inputs, description, call, op, repeat; `declar migrate` upgrades format 1 nodes)"]


def test_windows_line_ends_are_kept(tmp_path: Path) -> None:
    spec = tmp_path / "crlf.yaml"
    spec.write_bytes(FORMAT_1.replace("\n", "\r\n").encode())
    declar.migrate(spec)
    assert spec.read_bytes() == FORMAT_2.replace("\n", "\r\n").encode()


def test_only_migrating_imports_ruamel() -> None:
    code = ("import sys, declar; declar.validate('specs/keras_guide/custom_build.yaml'); "
            "assert 'ruamel.yaml' not in sys.modules; declar.migrate; assert 'ruamel.yaml' in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          timeout=120).returncode == 0
