"""The paths of the training section: where `declar fit` reads data and where callbacks write.

A spec never chooses where declar reads or writes outside its own places: data paths are relative
to the spec's directory, the files callbacks write are relative to the output archive's directory,
and neither may be absolute or climb out through ``..``.

Example:
    >>> path_refusal("logs/run1"), path_refusal("/etc"), path_refusal("a/../../b")
    (None, 'is absolute', 'climbs out through ..')
    >>> under("runs", "logs/run1")
    'runs/logs/run1'
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath, PureWindowsPath


def path_refusal(text: str) -> str | None:
    """Why ``text`` may not be a training-section path, or None when it is relative and stays inside."""
    if not text.strip():
        return "is empty"
    if "\0" in text:
        return "holds a NUL character"
    windows = PureWindowsPath(text)
    if PurePosixPath(text).is_absolute() or windows.is_absolute() or windows.drive or text.startswith("\\"):
        return "is absolute"
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        return "climbs out through .."
    return None


def under(base: str | os.PathLike[str], text: str) -> str:
    """``text`` (checked by `path_refusal` at validate) placed under the directory ``base``."""
    return os.path.join(os.fspath(base), text) if os.fspath(base) else text
