"""Format-1 archives whose embedded spec was tampered with (its `declar` version changed or removed,
its nodes edited, its sha256 replaced): refused by declar.load, keras.models.load_model and shown
for what they are by `declar inspect`, never silently accepted."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import keras
import pytest
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.spec.versions import upgraded_data

OLD_ARCHIVE = Path(__file__).parent / "fixtures" / "archives" / "declar-0.1.0" / "two_input_residual.keras"
runner = CliRunner()


def tampered(tmp_path: Path, name: str, edit) -> Path:
    with zipfile.ZipFile(OLD_ARCHIVE) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    edit(config["config"])
    members["config.json"] = json.dumps(config).encode()
    out = tmp_path / f"{name}.keras"
    with zipfile.ZipFile(out, "w") as z:
        for member, data in members.items():
            z.writestr(member, data)
    return out


def set_version(value):
    def edit(inner):
        inner["spec"]["declar"] = value
    return edit


def remove_version(inner):
    del inner["spec"]["declar"]


def upgrade_nodes_keep_hash(inner):
    inner["spec"] = upgraded_data(copy.deepcopy(inner["spec"]))


def replace_hash(inner):
    inner["sha256"] = "0" * 64


TAMPERINGS = {
    "version_2_nodes_of_format_1": (set_version(2), "unknown key 'args'", "2"),
    "version_3": (set_version(3), "format version 3 is newer than this declar reads (up to 2)", "3 (not a format"),
    "version_string": (set_version("1"), '"1" is not a format version', '"1" (not a format'),
    "version_removed": (remove_version, "missing required key 'declar'", "missing (not a format"),
    "nodes_upgraded_hash_kept": (upgrade_nodes_keep_hash, "does not match its sha256", "2"),
    "hash_replaced": (replace_hash, "does not match its sha256", "1 (upgraded to format 2 when loaded)"),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_tampered_format_1_archive_is_refused_by_declar_and_keras(tmp_path, name):
    edit, message, _ = TAMPERINGS[name]
    archive = tampered(tmp_path, name, edit)
    with pytest.raises(declar.DeclarError, match=message.replace("(", r"\(").replace(")", r"\)")) as by_declar:
        declar.load(archive)
    assert by_declar.value.problems and by_declar.value.code
    with pytest.raises(declar.DeclarError, match=message.replace("(", r"\(").replace(")", r"\)")):
        keras.models.load_model(archive)


@pytest.mark.parametrize("name", TAMPERINGS)
def test_inspect_shows_a_tampered_archives_format_as_unverified_and_unreadable_ones_as_refused(tmp_path, name):
    edit, _, shown = TAMPERINGS[name]
    result = runner.invoke(app, ["inspect", str(tampered(tmp_path, name, edit))])
    assert result.exit_code == 0, result.output
    assert f"format:   (unverified) {shown}" in result.output
    if "not a format" in shown:
        assert "(upgraded to format" not in result.output  # an unreadable version is never "upgraded"
        assert "declar.load refuses this archive" in result.output


def test_migrate_given_an_archive_says_it_is_one(tmp_path):
    result = runner.invoke(app, ["migrate", str(OLD_ARCHIVE)])
    assert result.exit_code == 1
    assert f"{OLD_ARCHIVE}:1:1: error: a .keras archive, not a spec file" in result.output
    assert "UTF-8" not in result.output


def test_a_directory_or_a_device_given_as_archive_is_named_as_such(tmp_path):
    (tmp_path / "m.keras").mkdir()
    with pytest.raises(declar.ArchiveError, match=r"m\.keras: a directory, not an archive$"):
        declar.load(tmp_path / "m.keras")
    result = runner.invoke(app, ["inspect", "/dev/null"])
    assert result.exit_code == 1 and "error: /dev/null: not a regular file" in result.output
    with pytest.raises(declar.ArchiveError, match=r"nope\.keras: no such archive$"):
        declar.load(tmp_path / "nope.keras")
