"""What `declar fit` shows while it trains: Keras's progress bar on a terminal, one plain line per
epoch when the output is piped, nothing with ``--quiet``."""

from __future__ import annotations

import keras


def progress(verbose: int | str) -> tuple[int | str, list[keras.callbacks.Callback]]:
    """The ``verbose`` value for `model.fit` and the callbacks that print in its place."""
    return verbose, []
