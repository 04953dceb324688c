"""Saving, loading and inspecting .keras archives: atomic writes, strict loads, the embedded spec.

Example:
    >>> import declar, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> declar.save("specs/keras_guide/custom_build.yaml", out)
    >>> declar.inspect(out)["name"]
    'custom_build_model'
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from declar.atomic import replace_atomically
from declar.bounded import copy_limited
from declar.errors import ArchiveError, DeclarError, FileLimitError, SpecError
from declar.limits import Limits, current_limits
from declar.spec.model import canonical_json, spec_sha256
from declar.spec.source import Document, parse_yaml
from declar.spec.versions import FORMAT_VERSION, known_version, upgraded_data

if TYPE_CHECKING:
    from collections.abc import Callable

    import keras

# Keras only warns about these, and the model then silently lacks state; declar.load raises.
LOST_STATE_WARNINGS = ("Skipping variable loading", "cannot be built automatically",
                       "was not called as part of model loading", "retain their freshly-initialized weights")


ARCHIVE_SUFFIX = ".keras"


def is_archive(source: object) -> bool:
    """Whether ``source`` names a .keras archive, rather than a spec (a file, YAML text, a `Spec`).

    Decided by the name, as Keras decides what `model.save` writes: every command and function
    that takes either asks here.

    Example:
        >>> is_archive("model.keras"), is_archive("model.yaml"), is_archive("declar: 1\\nname: model.keras")
        (True, False, False)
    """
    if not isinstance(source, (str, os.PathLike)):
        return False
    name = os.fspath(source)
    return isinstance(name, str) and "\n" not in name and name.endswith(ARCHIVE_SUFFIX)


def check_archive_target(out_path: str | os.PathLike[str]) -> None:
    """Refuse an archive path `atomic_save` cannot write: not ``.keras``, or in no directory.
    `declar fit` checks it before training, not after the epochs it would lose.

    Example:
        >>> check_archive_target("no/such/dir/m.keras")
        Traceback (most recent call last):
        ...
        declar.errors.ArchiveError: no/such/dir/m.keras: directory no/such/dir does not exist
    """
    out = Path(out_path)
    if not is_archive(out):
        raise ArchiveError(f"{out}: the archive name must end in .keras", file=os.fspath(out))
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise ArchiveError(f"{out}: directory {directory} does not exist", file=os.fspath(out))


def atomic_save(model: keras.Model, out_path: str | os.PathLike[str],
                check: Callable[[Path], None] | None = None) -> None:
    """Write ``model`` to ``out_path`` so that the path holds either the old or the new archive.

    The archive is written to a temporary file in the same directory, flushed to disk, then
    renamed over the target (a rename within one file system is atomic). It gets the mode
    ``model.save`` would give it (0666 less the umask), not the temporary file's 0600. ``check``,
    if given, is called with the temporary file before the rename; if it raises, the temporary file
    is removed and ``out_path`` keeps its previous content (or stays absent).

    Example:
        >>> import declar, tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> atomic_save(declar.build("specs/keras_guide/custom_build.yaml"), out)
        >>> os.path.exists(out)
        True
    """
    out = Path(out_path)
    check_archive_target(out)
    try:
        # An archive is a shared artefact like any file model.save writes: 0666 less the umask.
        replace_atomically(out, lambda tmp: model.save(tmp), mode=0o666 & ~_umask(), suffix=".tmp.keras",
                           check=check)
    except OSError as err:
        raise ArchiveError(f"{out}: cannot write the archive: {err.strerror or err}; "
                           "the previous file, if any, is unchanged", file=os.fspath(out)) from err


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask sets it to read it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


WEIGHTS = "model.weights.h5"
CONFIGS = ("config.json", "metadata.json")
# A weights member holds the variables (at most Limits.max_model_elements elements, at most 8 bytes
# each for the common dtypes) and the optimizer's state (Adam keeps two slots per variable), plus
# HDF5's own structure: more than this cannot come from a model within the limits.
BYTES_PER_ELEMENT_WITH_STATE = 3 * 8
H5_OVERHEAD_BYTES = 64 * 2**20


def weights_bound(limits: Limits) -> int:
    """The largest weights member a model within ``limits`` can have (see BYTES_PER_ELEMENT_WITH_STATE)."""
    return limits.max_model_elements * BYTES_PER_ELEMENT_WITH_STATE + H5_OVERHEAD_BYTES


def _check_sizes(path: Path, archive: zipfile.ZipFile, limits: Limits) -> None:
    """Member sizes from the zip directory, before anything is read or extracted: Keras reads
    config.json and the weights whole into memory and extracts every member to disk, and its own
    zip-bomb guards start at 4 GiB (read) and 256 MiB at 100:1 (extract)."""
    for info in archive.infolist():
        name = info.filename
        if name in CONFIGS:
            limit, limit_name = limits.max_archive_config_bytes, "Limits.max_archive_config_bytes"
        elif name == WEIGHTS:
            limit, limit_name = weights_bound(limits), "what Limits.max_model_elements allows"
        elif name.startswith("assets/"):
            # JSON is parsed into Python objects, so it has a tighter bound; the general one first.
            limit, limit_name = limits.max_asset_bytes, "Limits.max_asset_bytes"
            if name.endswith(".json") and info.file_size <= limit:
                limit, limit_name = limits.max_json_asset_bytes, "Limits.max_json_asset_bytes"
        else:
            continue  # extra members are refused by strict loading, by name
        if info.file_size > limit:
            raise ArchiveError(f"{path}: member {name} declares {info.file_size:,} bytes (stored in "
                               f"{info.compress_size:,}), over {limit_name} = {limit:,}; raise it if this is "
                               "intended (checked before reading)", file=os.fspath(path))
    # Members each within their limit can still add up (four 240 MB JSON members in a 935 KB
    # archive took 5 GB and minutes to parse), so the totals are checked too, still before reading.
    assets = [i for i in archive.infolist() if i.filename.startswith("assets/")]
    json_members = [i for i in assets if i.filename.endswith(".json")]  # parsed into Python objects
    for members, limit, limit_name, what in (
            (assets, limits.max_asset_bytes, "Limits.max_asset_bytes", "asset members"),
            (json_members, limits.max_json_asset_bytes, "Limits.max_json_asset_bytes", "JSON asset members")):
        total = sum(i.file_size for i in members)
        if total > limit:
            raise ArchiveError(f"{path}: its {len(members):,} {what} declare {total:,} bytes together (stored in "
                               f"{sum(i.compress_size for i in members):,}), over {limit_name} = {limit:,}; raise "
                               "it if this is intended (checked before reading)", file=os.fspath(path))


def _check_zip(path: Path) -> None:
    limits = current_limits.get()  # declar.load sets the caller's limits; inspect uses the defaults
    if not path.is_file():
        what = "a directory, not an archive" if path.is_dir() else \
            "not a regular file" if path.exists() else "no such archive"
        raise ArchiveError(f"{path}: {what}", file=os.fspath(path))
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            _check_sizes(path, archive, limits)
            # The small members are checked here (CRC, within the sizes just checked); the weights
            # are checked as Keras reads them, rather than reading a large archive twice.
            for small in CONFIGS:
                if small in names:
                    archive.read(small)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ArchiveError(f"{path}: not a readable .keras archive ({err})", file=os.fspath(path)) from None
    missing = {"config.json", "metadata.json"} - names
    if missing:
        raise ArchiveError(f"{path}: not a .keras archive (missing {', '.join(sorted(missing))})", file=os.fspath(path))


# What Keras writes for a model (besides assets/, checked against the loaded model's own walk).
ARCHIVE_FILES = frozenset({"config.json", "metadata.json", "model.weights.h5"})
DECLAR_MODEL = "declar>DeclarModel"
FOREIGN_ARCHIVE = "foreign-archive"
"""The code of an `ArchiveError` for a Keras archive that declar did not write."""


def _read_json_member(z: zipfile.ZipFile, archive: Path, member: str) -> dict[str, Any]:
    """A JSON object member of an archive, or an ArchiveError naming the member."""
    try:
        value = json.loads(z.read(member))
    except KeyError:
        raise ArchiveError(f"{archive}: not a .keras archive (missing {member})", file=os.fspath(archive)) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise ArchiveError(f"{archive}: {member} is not valid JSON ({str(err)[:200]})",
                           file=os.fspath(archive)) from None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ArchiveError(f"{archive}: {member} cannot be read ({err})", file=os.fspath(archive)) from None
    if not isinstance(value, dict):
        raise ArchiveError(f"{archive}: {member} must hold a JSON object, not {type(value).__name__}",
                           file=os.fspath(archive))
    return value


def is_declar_compile_config(config: Any) -> bool:
    """The one compile config declar writes: ``{"declar": true}`` (1 is not true here)."""
    return isinstance(config, dict) and list(config) == ["declar"] and config["declar"] is True


def _check_declar_archive(archive: Path) -> None:
    """Before Keras reads anything: a declar model, compiled (if at all) by declar, no stray members."""
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        config = _read_json_member(z, archive, "config.json")
    if config.get("registered_name") != DECLAR_MODEL:
        raise ArchiveError(f"{archive}: cannot load: not an archive written by declar (model class "
                           f"{str(config.get('registered_name') or config.get('class_name'))[:80]!r}); "
                           "declar.load is strict: use keras.models.load_model for other archives",
                           code=FOREIGN_ARCHIVE, file=os.fspath(archive))
    compile_config = config.get("compile_config")
    if compile_config not in (None, {}) and not is_declar_compile_config(compile_config):  # {}: saved uncompiled
        raise ArchiveError(f"{archive}: the archive's compile_config is not declar's; the model compiles only "
                           "from its embedded spec (compile_config must be {\"declar\": true})",
                           file=os.fspath(archive))
    stray = sorted(n for n in names if n not in ARCHIVE_FILES and not n.startswith("assets/"))
    if stray:
        raise ArchiveError(f"{archive}: unexpected archive members {stray[:5]}; Keras writes only "
                           f"{', '.join(sorted(ARCHIVE_FILES))} and assets/", file=os.fspath(archive))


def _check_asset_members(archive: Path, model: keras.Model) -> None:
    """The archive's assets/ files are exactly those the loaded model's layers write.

    The expected set comes from Keras's own walk over the model (the walk `model.save` does),
    with the assets written to a temporary directory; a file beyond it is refused.
    """
    try:
        from keras.src.saving.saving_lib import DiskIOStore, _save_state
    except ImportError:  # a Keras without these internals: the prefix check above stands
        return
    with zipfile.ZipFile(archive) as z:
        found = {n for n in z.namelist() if n.startswith("assets/") and not n.endswith("/")}
    if not found:
        return  # nothing to compare: the walk below writes every asset once more, so skip it
    with tempfile.TemporaryDirectory() as tmp:
        store = DiskIOStore(tmp, mode="r")  # "r": the working directory is `tmp` itself
        _save_state(model, weights_store=None, assets_store=store, inner_path="", visited_saveables=set())
        written = {"assets/" + os.path.relpath(os.path.join(d, f), tmp).replace(os.sep, "/")
                   for d, _, files in os.walk(tmp) for f in files}
    extra = sorted(found - written)
    if extra:
        raise ArchiveError(f"{archive}: unexpected asset members {extra[:5]}; no layer of the model writes them",
                           file=os.fspath(archive))


def strict_load(path: str | os.PathLike[str], compile: bool = True) -> keras.Model:
    """Load an archive with safe_mode on; Keras's lost-state warnings become errors.

    Strict also means: only archives written by declar (a DeclarModel), compiled only from the
    embedded spec, and no member beyond what Keras writes for the model.
    """
    import keras

    archive = Path(path)
    _check_zip(archive)
    _check_declar_archive(archive)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = keras.models.load_model(archive, compile=compile, safe_mode=True)
        except SpecError as err:  # the embedded spec, checked like a file: keep its located problems
            raise ArchiveError(f"{archive}: cannot load: {type(err).__name__}: {err}", problems=err.problems,
                               code=err.code, file=os.fspath(archive)) from err
        except zipfile.BadZipFile as err:
            raise ArchiveError(f"{archive}: the archive is corrupted: {err}", file=os.fspath(archive)) from err
        except Exception as err:
            raise ArchiveError(f"{archive}: cannot load: {type(err).__name__}: {err}", file=os.fspath(archive)) from err
    for warning in caught:
        text = str(warning.message)
        if any(marker in text for marker in LOST_STATE_WARNINGS):
            raise ArchiveError(f"{archive}: loading would lose state: {text}", file=os.fspath(archive))
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    _check_asset_members(archive, model)
    return model


def inspect_archive(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What an archive holds, read without keras: embedded spec, hash, versions, variables, assets.

    Only verified content is shown as such: ``sha256`` is checked against the embedded spec, and
    ``source`` (the spec as written) only when it parses to that same spec; otherwise the fields
    say so and ``sha256_verified`` / ``source_verified`` are false. ``unverified`` names the fields
    given as the archive records them, which no hash covers: the declar and Keras versions and the
    date saved always (anyone can edit config.json and metadata.json), the name too when the
    sha256 does not match. A malformed archive raises `ArchiveError`.
    """
    try:
        return _archive_info(Path(path))
    except DeclarError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # malformed JSON or members
        raise ArchiveError(f"{path}: not a readable declar archive ({type(err).__name__}: {err})",
                           file=os.fspath(path)) from err


def _archive_info(archive: Path) -> dict[str, Any]:
    _check_zip(archive)
    try:
        with zipfile.ZipFile(archive) as z:
            config = _read_json_member(z, archive, "config.json")
            metadata = _read_json_member(z, archive, "metadata.json")
            assets = sorted(n for n in z.namelist() if n.startswith("assets/") and not n.endswith("/"))
            variables = _weights(z) if "model.weights.h5" in z.namelist() else []
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ArchiveError(f"{archive}: not a readable .keras archive ({err})", file=os.fspath(archive)) from None
    if config.get("registered_name") != DECLAR_MODEL:
        raise ArchiveError(f"{archive}: not a declar archive: not an archive written by declar (model class "
                           f"{str(config.get('class_name'))[:80]!r}); use keras.models.load_model for other archives",
                           code=FOREIGN_ARCHIVE, file=os.fspath(archive))
    inner = config.get("config")
    spec = inner.get("spec") if isinstance(inner, dict) else None
    if not isinstance(spec, dict):
        raise ArchiveError(f"{archive}: config.json holds no embedded spec (config.spec must be a JSON object)",
                           file=os.fspath(archive))
    recorded, actual = inner.get("sha256"), spec_sha256(spec)
    sha_ok = recorded == actual
    source = inner.get("source", "")
    source_ok = isinstance(source, str) and sha_ok and _source_matches(source, spec)
    if sha_ok or recorded is None:  # None: no hash recorded (shown as such, and not verified)
        shown_sha = recorded
    else:
        shown_sha = (f"{str(recorded)[:80]} (does not match the embedded spec, which hashes to {actual}; "
                     "declar.load refuses this archive)")
    recorded_format = spec.get("declar")
    return {"name": _text(spec.get("name")), "sha256": shown_sha, "sha256_verified": sha_ok,
            "format_version": _text(recorded_format), "format_readable": known_version(recorded_format),
            "upgraded_to": FORMAT_VERSION if known_version(recorded_format) and recorded_format != FORMAT_VERSION
            else None,
            "declar_version": _text(inner.get("declar_version")), "keras_version": _text(metadata.get("keras_version")),
            "saved": _text(metadata.get("date_saved")), "compiled": bool(config.get("compile_config")),
            "source": source if source_ok else UNVERIFIED_SOURCE, "source_verified": source_ok, "spec": spec,
            "variables": variables, "assets": assets, "recorded_sha256": recorded,
            "unverified": [*(() if sha_ok else ("name", "format_version")), *UNVERIFIED_FIELDS]}


UNVERIFIED_FIELDS = ("declar_version", "keras_version", "saved")
"""Fields `inspect_archive` reports as the archive records them: the sha256 covers the spec only."""


UNVERIFIED_SOURCE = ("(not shown: the archive's source text does not parse to its embedded spec, so it is "
                     "unverified; the embedded spec is in --format json)")


def _source_matches(source: str, spec: dict[str, Any]) -> bool:
    """The spec as written parses (declar's safe YAML loader, within the limits) to the embedded spec."""
    limits = current_limits.get()  # the caller's: a spec validated under raised limits verifies too
    if not source or len(source) > limits.max_file_bytes:  # no spec file is larger
        return False
    doc = parse_yaml(source, "<archive source>", limits)
    # Both sides upgraded: a model loaded from an older archive and saved again keeps its source as written.
    return isinstance(doc, Document) and canonical_json(upgraded_data(doc.data)) == canonical_json(upgraded_data(spec))


def _text(value: Any) -> str | None:
    """A scalar field of an archive as text (a stranger's archive may hold any JSON there)."""
    return None if value is None else str(value)[:200]


def _weights(z: zipfile.ZipFile) -> list[dict[str, Any]]:
    import h5py

    with z.open(WEIGHTS) as raw, tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "w.h5")
        with open(local, "wb") as f:
            # Streamed in chunks, never whole in memory; bounded like _check_sizes (which already
            # checked the declared size: zipfile never yields more than it).
            bound = weights_bound(current_limits.get())
            try:
                copy_limited(raw, f, limit=bound, limit_name="max_model_elements", what=f"member {WEIGHTS}")
            except FileLimitError:
                raise ArchiveError(f"{z.filename}: member {WEIGHTS} holds more than {bound:,} bytes, more than a "
                                   "model within Limits.max_model_elements can need; raise it if this is "
                                   "intended", file=os.fspath(z.filename)) from None
        found: list[dict[str, Any]] = []
        try:
            with h5py.File(local, "r") as h5:
                def visit(name: str, obj: Any) -> None:
                    if isinstance(obj, h5py.Dataset):
                        found.append({"path": name, "shape": list(obj.shape), "dtype": str(obj.dtype)})
                h5.visititems(visit)
        except (OSError, ValueError, KeyError, RuntimeError) as err:  # h5py reports a bad file as OSError
            raise ArchiveError(f"{z.filename}: model.weights.h5 is not a readable HDF5 file ({err})",
                               file=os.fspath(z.filename)) from None
    return found
