"""Asset ``file:`` paths stay inside the spec's directory, and archives cannot make declar read or
write elsewhere (hostile member names under assets/)."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import pytest

import declar

SECRET = "top secret, outside the spec's directory\n"


def asset_spec(file_value: str) -> str:
    return ("declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\nlayers:\n  Vocab:\n    extends: Layer\n"
            f"    assets:\n      words: {{kind: text, file: {json.dumps(file_value)}}}\n    call: inputs\n"
            "model:\n  - Vocab: {}\n")


ASSET_LINE, ASSET_COL = 9, 33  # where the file value starts in asset_spec's text


@pytest.fixture
def layout(tmp_path):
    """tmp/spec/ (the spec's directory) and tmp/outside/secret.txt (a file it must not reach)."""
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    return spec_dir, outside


def write_spec(spec_dir: Path, file_value: str) -> Path:
    path = spec_dir / "m.yaml"
    path.write_text(asset_spec(file_value))
    return path


def assert_refused(path: Path, code: str = "asset-path") -> declar.Problem:
    problems = declar.validate(path)
    assert [p.code for p in problems] == [code], problems
    p = problems[0]
    assert (p.line, p.col) == (ASSET_LINE, ASSET_COL), p
    assert p.path == ("layers", "Vocab", "assets", "words", "file")
    with pytest.raises(declar.SpecError):
        declar.load_spec(path)
    return p


def test_layout_of_the_spec_text():
    line = asset_spec("abc").split("\n")[ASSET_LINE - 1]
    assert line[ASSET_COL - 1:].startswith('"abc"')


@pytest.mark.parametrize("absolute", ["outside", "/etc/passwd"])
def test_absolute_path_is_refused(layout, absolute):
    spec_dir, outside = layout
    target = str(outside / "secret.txt") if absolute == "outside" else absolute
    p = assert_refused(write_spec(spec_dir, target))
    assert "leaves the spec's directory" in p.message


@pytest.mark.parametrize("escape", ["../outside/secret.txt", "sub/../../outside/secret.txt", "./../outside/secret.txt",
                                    "..\\outside\\secret.txt", "sub/..", ".."])
def test_dotdot_escape_is_refused(layout, escape):
    spec_dir, _ = layout
    (spec_dir / "sub").mkdir()
    assert_refused(write_spec(spec_dir, escape))


def test_symlink_to_a_file_outside_is_refused(layout):
    spec_dir, outside = layout
    (spec_dir / "link.txt").symlink_to(outside / "secret.txt")
    p = assert_refused(write_spec(spec_dir, "link.txt"))
    assert "outside" in p.message


def test_symlinked_subdirectory_outside_is_refused(layout):
    spec_dir, outside = layout
    (spec_dir / "data").symlink_to(outside, target_is_directory=True)
    assert_refused(write_spec(spec_dir, "data/secret.txt"))


def test_symlink_inside_the_directory_is_accepted(layout):
    spec_dir, _ = layout
    (spec_dir / "real.txt").write_text("inside")
    (spec_dir / "alias.txt").symlink_to("real.txt")
    assert declar.validate(write_spec(spec_dir, "alias.txt")) == []


def test_missing_file_is_a_located_problem(layout):
    spec_dir, _ = layout
    p = assert_refused(write_spec(spec_dir, "nope.txt"), code="asset-file")
    assert "nope.txt" in p.message


def test_a_directory_is_not_an_asset_file(layout):
    spec_dir, _ = layout
    (spec_dir / "words").mkdir()
    assert_refused(write_spec(spec_dir, "words"), code="asset-file")


def test_spec_given_as_text_cannot_name_asset_files(layout):
    spec_dir, _ = layout
    (spec_dir / "words.txt").write_text("a b c")
    problems = declar.validate(asset_spec("words.txt"))
    assert [p.code for p in problems] == ["asset-path"]
    p = problems[0]
    assert (p.line, p.col) == (ASSET_LINE, ASSET_COL)
    assert "text" in p.message and p.hint  # says why, and what to do (load the spec from its file)
    with pytest.raises(declar.SpecError):
        declar.build(asset_spec("words.txt"))


@pytest.fixture(scope="module")
def keras_ready():
    import keras

    from declar._keras_hook import register
    register()
    return keras


def declar_layers(model) -> list:
    from declar.keras.layer import DeclarLayer

    return [layer for layer in model.layers if isinstance(layer, DeclarLayer)]


@pytest.mark.parametrize("relative", ["words.txt", "data/words.txt", "data/more/words.txt", "./words.txt"])
def test_relative_files_are_accepted_and_read_at_build(layout, keras_ready, relative):
    spec_dir, _ = layout
    target = spec_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    content = f"Mary had a little lamb ({relative})\n"
    target.write_text(content)
    path = write_spec(spec_dir, relative)
    assert declar.validate(path) == []
    model = declar.build(path)
    (layer,) = declar_layers(model)
    assert layer.assets["words"] == content
    assert layer.words == content


def test_spec_reached_through_a_symlinked_directory(layout, keras_ready, tmp_path):
    spec_dir, _ = layout
    (spec_dir / "words.txt").write_text("hello")
    write_spec(spec_dir, "words.txt")
    (tmp_path / "via").symlink_to(spec_dir, target_is_directory=True)
    path = tmp_path / "via" / "m.yaml"
    assert declar.validate(path) == []
    assert declar_layers(declar.build(path))[0].words == "hello"


# -- archives with hostile asset member names -------------------------------------------------------

HOSTILE_NAMES = ["assets/../../evil_dotdot.txt", "assets/../../../../evil_deep.txt", "../evil_root.txt",
                 "assets/layers/vocab/../../../../evil_layer.txt", "assets//abs/evil_abs.txt",
                 "assets/layers/vocab/declar_assets.json.evil", "assets\\..\\..\\evil_backslash.txt"]


def add_members(src: Path, dst: Path, extra: dict[str, bytes], replace: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = (replace or {}).get(item.filename, zin.read(item.filename))
            zout.writestr(item, data)
        for name, data in extra.items():
            zout.writestr(zipfile.ZipInfo(name), data)
    return dst


@pytest.fixture
def asset_archive(layout, keras_ready, tmp_path):
    spec_dir, _ = layout
    (spec_dir / "words.txt").write_text("the real words")
    out = tmp_path / "clean.keras"
    declar.save(write_spec(spec_dir, "words.txt"), out)
    return out


def evil_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*evil*") if p.is_file()]


@pytest.mark.filterwarnings("ignore:Skipping invalid path during archive extraction:UserWarning")
def test_hostile_member_names_do_not_escape_the_extraction_directory(asset_archive, tmp_path, monkeypatch):
    # Extraction happens in a temporary directory deep inside tmp_path, with the working directory
    # deep inside it too, so any escape (relative or absolute) lands somewhere we can see.
    tmp_root = tmp_path / "t1" / "t2" / "t3" / "t4"
    tmp_root.mkdir(parents=True)
    work = tmp_path / "w1" / "w2" / "w3" / "w4"
    work.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_root))
    monkeypatch.chdir(work)
    absolute = str(tmp_path / "abs_target" / "evil_absolute.txt")
    extra = {name: b"evil" for name in HOSTILE_NAMES}
    extra[absolute] = b"evil"
    extra["assets/" + absolute.lstrip("/")] = b"evil"
    with zipfile.ZipFile(asset_archive) as z:
        manifests = [n for n in z.namelist() if n.endswith("declar_assets.json")]
    assert manifests
    # The manifest too names a path outside: declar takes file names from the spec, not the archive.
    hostile_manifest = json.dumps({"layer_type": "Vocab", "assets": {"words": "../../../../evil_manifest.txt"}})
    archive = add_members(asset_archive, tmp_path / "hostile.keras", extra,
                          replace={manifests[0]: hostile_manifest.encode()})
    before = set(os.listdir(tmp_path.parent))
    try:
        model = declar.load(archive)
    except (ValueError, OSError) as err:  # refusing is fine; reading or writing outside is not
        assert str(err)
        print(f"hostile archive refused: {err}")
    else:
        (layer,) = declar_layers(model)
        assert layer.words == "the real words"
        print("hostile archive loaded; extra members ignored")
    escaped = [p for p in evil_files(tmp_path)
               if not (p.is_relative_to(tmp_root) and len(p.relative_to(tmp_root).parts) >= 2)]
    assert escaped == [], f"files written outside the extraction directory: {escaped}"
    assert not (tmp_path / "abs_target").exists()
    assert set(os.listdir(tmp_path.parent)) - before == set()
    assert not Path(absolute).exists()


def test_archive_asset_loaded_from_the_spec_name_not_the_member_name(asset_archive, tmp_path):
    """Extra members under assets/ are refused by declar.load (strict); plain Keras loading, which
    tolerates them, still reads the asset the spec declares."""
    import keras

    from declar.archive import ArchiveError

    archive = add_members(asset_archive, tmp_path / "extra.keras",
                          {"assets/layers/vocab/other.txt": b"not this", "assets/evil_extra.txt": b"evil"})
    with pytest.raises(ArchiveError, match="unexpected asset members"):
        declar.load(archive)
    (layer,) = declar_layers(keras.models.load_model(archive))
    assert layer.words == "the real words"
