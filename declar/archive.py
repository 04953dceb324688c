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

if TYPE_CHECKING:
    from collections.abc import Callable

    import keras

# Keras only warns about these, and the model then silently lacks state; declar.load raises.
LOST_STATE_WARNINGS = ("Skipping variable loading", "cannot be built automatically",
                       "was not called as part of model loading")


class ArchiveError(ValueError):
    """An archive could not be written or read; the message says why."""


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
    if out.suffix != ".keras":
        raise ArchiveError(f"{out}: the archive name must end in .keras")
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise ArchiveError(f"{out}: directory {directory} does not exist")
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{out.stem}.", suffix=".keras.tmp.keras")
    os.close(fd)
    try:
        model.save(tmp_name)
        # mkstemp makes the file 0600; an archive is a shared artefact like any file model.save writes.
        os.chmod(tmp_name, 0o666 & ~_umask())
        with open(tmp_name, "rb") as f:
            os.fsync(f.fileno())
        if check is not None:
            check(Path(tmp_name))
        os.replace(tmp_name, out)
    except OSError as err:
        raise ArchiveError(f"{out}: cannot write the archive: {err.strerror or err}; "
                           "the previous file, if any, is unchanged") from err
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    _fsync_directory(directory)


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


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_zip(path: Path) -> None:
    if not path.is_file():
        raise ArchiveError(f"{path}: no such archive")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            # The small members are checked here; the weights are checked (CRC) as Keras reads
            # them, rather than reading a large archive twice.
            for small in ("config.json", "metadata.json"):
                if small in names:
                    archive.read(small)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ArchiveError(f"{path}: not a readable .keras archive ({err})") from None
    missing = {"config.json", "metadata.json"} - names
    if missing:
        raise ArchiveError(f"{path}: not a .keras archive (missing {', '.join(sorted(missing))})")


def strict_load(path: str | os.PathLike[str], compile: bool = True) -> keras.Model:
    """Load an archive with safe_mode on; Keras's lost-state warnings become errors."""
    import keras

    archive = Path(path)
    _check_zip(archive)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = keras.models.load_model(archive, compile=compile, safe_mode=True)
        except zipfile.BadZipFile as err:
            raise ArchiveError(f"{archive}: the archive is corrupted: {err}") from err
        except Exception as err:
            raise ArchiveError(f"{archive}: cannot load: {type(err).__name__}: {err}") from err
    for warning in caught:
        text = str(warning.message)
        if any(marker in text for marker in LOST_STATE_WARNINGS):
            raise ArchiveError(f"{archive}: loading would lose state: {text}")
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return model


def inspect_archive(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What an archive holds, read without keras: embedded spec, hash, versions, variables, assets."""
    archive = Path(path)
    _check_zip(archive)
    with zipfile.ZipFile(archive) as z:
        config = json.loads(z.read("config.json"))
        metadata = json.loads(z.read("metadata.json"))
        assets = sorted(n for n in z.namelist() if n.startswith("assets/") and not n.endswith("/"))
        variables = _weights(z) if "model.weights.h5" in z.namelist() else []
    if config.get("registered_name") != "declar>DeclarModel":
        raise ArchiveError(f"{archive}: not a declar archive (model class {config.get('class_name')!r})")
    inner = config.get("config", {})
    spec = inner.get("spec", {})
    return {"name": spec.get("name"), "sha256": inner.get("sha256"), "declar_version": inner.get("declar_version"),
            "keras_version": metadata.get("keras_version"), "saved": metadata.get("date_saved"),
            "compiled": bool(config.get("compile_config")), "source": inner.get("source", ""), "spec": spec,
            "variables": variables, "assets": assets}


def _weights(z: zipfile.ZipFile) -> list[dict[str, Any]]:
    import h5py

    with z.open("model.weights.h5") as raw, tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "w.h5")
        with open(local, "wb") as f:
            f.write(raw.read())
        found: list[dict[str, Any]] = []
        with h5py.File(local, "r") as h5:
            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    found.append({"path": name, "shape": list(obj.shape), "dtype": str(obj.dtype)})
            h5.visititems(visit)
    return found
