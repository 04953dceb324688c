"""The training history written next to the archive: the loss and metric of every epoch."""

from __future__ import annotations

import os

import keras


def write_history(history: keras.callbacks.History, out_path: str | os.PathLike[str]) -> None:
    """Write ``history`` next to the archive ``out_path``."""
