"""Atomic file replacement: a path holds its old content or the new one, never a part of either.

Used by `declar.save` (archives) and `declar migrate` (specs). The new content is written to a
temporary file in the target's directory, flushed to disk, optionally checked, then renamed over
the target (a rename within one file system is atomic), and the directory entry is flushed too.

Example:
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "spec.yaml"
    >>> replace_atomically(target, lambda tmp: tmp.write_text("declar: 2\\n"), mode=0o644)
    >>> target.read_text()
    'declar: 2\\n'
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def replace_atomically(target: Path, write: Callable[[Path], None], *, mode: int, suffix: str = ".tmp",
                       check: Callable[[Path], None] | None = None) -> None:
    """Put what ``write`` writes into a temporary file at ``target``, atomically, with ``mode``.

    ``suffix`` ends the temporary file's name (Keras's `model.save` wants ``.keras``). ``check``, if
    given, is called with the temporary file before the rename; if it or ``write`` raises, the
    temporary file is removed and ``target`` keeps its previous content (or stays absent).
    """
    directory = target.parent if str(target.parent) else Path(".")
    fd, name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, mode)  # mkstemp's 0600 would hide the file from everyone else
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
        if check is not None:
            check(temporary)
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Flush the rename itself (best effort: not every file system lets a directory be opened)."""
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
