"""What `declar fit` shows while it trains: Keras's progress bar on a terminal, one plain line per
epoch when the output is piped, nothing with ``--quiet``.

Keras's bar redraws itself with carriage returns and, on a terminal, escape codes: in a log file
or a CI page that is noise. `EpochLines` prints one line per epoch instead, with nothing but the
newline as a control character::

    epoch 1/3 - 0.4s - loss: 0.6931 - val_loss: 0.6802

Example:
    >>> import io
    >>> verbose, printers = progress("auto", stream=io.StringIO())  # not a terminal
    >>> verbose, [type(p).__name__ for p in printers]
    (0, ['EpochLines'])
    >>> progress(0)
    (0, [])
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

import keras

from declar.text import escape


def progress(verbose: int | str = "auto", *, stream: TextIO | None = None
             ) -> tuple[int | str, list[keras.callbacks.Callback]]:
    """The ``verbose`` value for `model.fit` and the callbacks that print in its place.

    ``verbose``: 0 prints nothing (``--quiet``), 1 Keras's bar, 2 one plain line per epoch, and
    ``"auto"`` the bar when ``stream`` (default: standard output) is a terminal, else the lines.
    """
    stream = stream or sys.stdout
    if verbose == "auto":
        verbose = 1 if _is_terminal(stream) else 2
    if verbose == 2:
        return 0, [EpochLines(stream)]
    return verbose, []


def silenced(callbacks: list[keras.callbacks.Callback], verbose: int | str) -> list[keras.callbacks.Callback]:
    """``callbacks``, their own messages turned off when ``verbose`` is 0 (``--quiet`` prints nothing
    but errors, not even a spec's ``EarlyStopping: {verbose: 1}``).

    Example:
        >>> [c.verbose for c in silenced([keras.callbacks.EarlyStopping(verbose=1)], 0)]
        [0]
    """
    if verbose == 0:
        for callback in callbacks:
            if isinstance(getattr(callback, "verbose", None), int):
                callback.verbose = 0
    return callbacks


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or minimal stream is no terminal
        return False


def epoch_line(epoch: int, epochs: int, seconds: float, logs: dict[str, Any]) -> str:
    """One epoch as `EpochLines` prints it (``epoch`` counted from 0).

    Example:
        >>> epoch_line(0, 3, 0.42, {"acc": 0.5, "loss": 0.69314, "val_acc": 0.25, "val_loss": float("nan")})
        'epoch 1/3 - 0.4s - loss: 0.6931 - acc: 0.5000 - val_loss: nan - val_acc: 0.2500'
    """
    parts = [f"epoch {epoch + 1}/{epochs}", f"{seconds:.1f}s"]
    for name in sorted(logs, key=_log_order):
        parts.append(f"{escape(name)}: {_number(logs[name])}")
    return " - ".join(parts)


def _log_order(name: str) -> tuple[bool, bool]:
    """Training before validation, each led by its loss (Keras gives the logs sorted by name)."""
    validation = name.startswith("val_")
    return validation, name.removeprefix("val_") != "loss"


def _number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return escape(value)
    if math.isnan(number) or math.isinf(number):
        return str(number)
    return f"{number:.4f}" if abs(number) >= 1e-3 or number == 0 else f"{number:.4e}"


class EpochLines(keras.callbacks.Callback):
    """Prints `epoch_line` at the end of every epoch, flushed, so a piped log grows as it trains."""

    def __init__(self, stream: TextIO | None = None):
        super().__init__()
        self.stream = stream
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        stream = self.stream or sys.stdout
        epochs = int(self.params.get("epochs") or epoch + 1)
        stream.write(epoch_line(epoch, epochs, time.monotonic() - self.started, dict(logs or {})) + "\n")
        stream.flush()
