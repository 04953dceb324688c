"""`declar migrate` and the format-1 upgrader given odd or hostile input: a located refusal or a
correct rewrite, never a traceback, never a half-written or clobbered file."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from declar.cli import app
from declar.spec.source import parse_yaml
from declar.spec.versions import upgrade

runner = CliRunner()

HEAD = "declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\nmodel:\n  nodes:\n"
GOOD = (HEAD + "    h: {layer: Dense, args: {units: 2}, inputs: x}\n"
        "    out: {layer: Flatten, inputs: h}\n  outputs: out\n")


def spec_with(tmp_path: Path, node: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + f"    out: {node}\n  outputs: out\n")
    return path


def run(*args: str):
    result = runner.invoke(app, [*map(str, args)])
    assert result.exit_code in (0, 1), (result.exit_code, result.output)  # 70 would be a bug in declar
    return result


@pytest.mark.parametrize("node, message", [
    ("{layer: Dense, Dense: {units: 2}, args: {units: 3}, inputs: x}",
     "7:18: error: node 'out' names its layer twice: `layer: Dense` and `Dense:`"),
    ("{layer: 5, args: {units: 3}, inputs: x}", "7:18: error: node 'out': layer must be a layer type's name, got 5"),
    ("{layer: [Dense], inputs: x}", "7:18: error: node 'out': layer must be a layer type's name, got [\"Dense\"]"),
])
def test_layer_written_twice_or_not_a_name_is_located_at_layer_by_validate_and_migrate(tmp_path, node, message):
    spec = spec_with(tmp_path, node)
    before = spec.read_bytes()
    for command in ("validate", "migrate"):
        result = run(command, spec)
        assert result.exit_code == 1
        assert f"{spec}:{message}" in result.output
        assert "has args but no layer" not in result.output  # it has one, written in a way format 2 cannot
    assert spec.read_bytes() == before


def test_lowercase_layer_migrates_and_is_then_reported_where_it_was_written(tmp_path):
    spec = spec_with(tmp_path, "{layer: dense, args: {units: 3}, inputs: x}")
    format_1 = run("validate", spec).output
    assert run("migrate", spec).exit_code == 0
    assert "out: {dense: {units: 3}, inputs: x}" in spec.read_text()
    assert f"{spec}:7:18: error: unknown key 'dense' (did you mean 'Dense'? a layer is a CamelCase key" in format_1
    format_2 = run("validate", spec).output  # format 2: at the key, on the same line
    assert f"{spec}:7:11: error: unknown key 'dense' (did you mean 'Dense'? a layer is a CamelCase key" in format_2


def test_tagged_layer_name_migrates_instead_of_an_internal_error(tmp_path):
    spec = spec_with(tmp_path, "{layer: !!str Dense, args: {units: 2}, inputs: x}")
    result = run("migrate", spec)
    assert result.exit_code == 0, result.output
    assert "out: {Dense: {units: 2}, inputs: x}" in spec.read_text()
    assert run("validate", spec).exit_code == 0


@pytest.mark.parametrize("text, message", [
    ("[1, 2]\n", "1:1: error: the spec is not a mapping, so it has no format version"),
    (GOOD.replace("declar: 1\n", ""), "1:1: error: the spec says no format version"),
])
def test_spec_without_a_version_is_refused_not_called_current(tmp_path, text, message):
    spec = tmp_path / "m.yaml"
    spec.write_text(text)
    result = run("migrate", spec)
    assert result.exit_code == 1
    assert f"{spec}:{message}" in result.output
    assert "already format" not in result.output


def test_output_that_is_a_directory_or_in_a_missing_directory_is_refused_before_writing(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(GOOD)
    (tmp_path / "out").mkdir()
    result = run("migrate", spec, "-o", tmp_path / "out")
    assert f"{tmp_path / 'out'}:1:1: error: the output is a directory" in result.output
    missing = tmp_path / "missing" / "m.yaml"
    result = run("migrate", spec, "-o", missing)
    assert f"{missing}:1:1: error: the output's directory {missing.parent} does not exist" in result.output
    assert spec.read_text() == GOOD and os.listdir(tmp_path) == ["m.yaml", "out"]  # no temporary file left
    assert os.listdir(tmp_path / "out") == []


def test_read_only_spec_is_not_replaced(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(GOOD)
    spec.chmod(0o444)
    result = run("migrate", spec)
    assert result.exit_code == 1
    assert f"{spec}:1:1: error: the file is read-only, so it is not rewritten" in result.output
    assert spec.read_text() == GOOD and stat.S_IMODE(spec.stat().st_mode) == 0o444
    assert run("migrate", "--check", spec).exit_code == 1  # --check writes nothing, so it still answers
    assert "would migrate" in run("migrate", "--check", spec).output


def test_symbolic_link_keeps_pointing_to_the_migrated_spec(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text(GOOD)
    link = tmp_path / "link.yaml"
    link.symlink_to(real.name)
    assert run("migrate", link).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == real.name
    assert real.read_text().startswith("declar: 2\n")


def test_byte_order_mark_is_kept(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert run("migrate", spec).exit_code == 0
    assert spec.read_bytes().startswith(b"\xef\xbb\xbfdeclar: 2\n")
    assert run("validate", spec).exit_code == 0


def test_ten_thousand_nodes_upgrade_in_linear_time_with_every_position_kept():
    def spec(n: int) -> str:
        nodes = "".join(f"    n{i}: {{layer: Dense, args: {{units: 2}}, inputs: {f'n{i - 1}' if i else 'x'}}}\n"
                        for i in range(n))
        return HEAD + nodes + f"  outputs: n{n - 1}\n"

    def seconds(n: int) -> tuple[float, object]:
        doc = parse_yaml(spec(n), "big.yaml")
        start = time.perf_counter()
        upgraded = upgrade(doc)
        return time.perf_counter() - start, upgraded

    small, _ = seconds(1_000)
    large, upgraded = seconds(10_000)
    assert large < max(40 * small, 0.5), (small, large)  # 10x the nodes: linear is ~10x, quadratic 100x
    positions = upgraded.document.source_map
    assert positions.key_position(("model", "nodes", "n9999", "Dense")) == (10_006, 20)  # where `Dense` was
    assert positions.position(("model", "nodes", "n9999", "Dense", "units")) == (10_006, 41)  # its `2`
