"""Keras's ModelCheckpoint writing every file atomically: a checkpoint path holds a whole archive
(or weights file), the old one or the new one, never a part of either, even if `declar fit` is
killed while it writes.

Example:
    >>> import declar, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> model = declar.build("specs/keras_guide/custom_build.yaml")
    >>> checkpoint = AtomicModelCheckpoint(os.path.join(d, "ck.keras"))
    >>> checkpoint.set_model(model)
    >>> checkpoint._save_model(epoch=0, batch=None, logs={})
    >>> os.listdir(d)
    ['ck.keras']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras

from declar.archive import atomic_save
from declar.atomic import replace_atomically


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` whose save goes through `declar.archive.atomic_save` (an
    archive) or `declar.atomic.replace_atomically` (``save_weights_only``); everything else, when to
    save and which file name, is Keras's."""

    def _save_model(self, epoch: int, batch: int | None, logs: dict[str, Any] | None) -> None:
        # Keras's own _save_model writes in place (model.save(filepath)); this is the same steps
        # with the write replaced, so a kill mid-save cannot leave a truncated checkpoint.
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        os.makedirs(os.path.dirname(filepath) or ".", exist_ok=True)
        if self.save_weights_only:
            replace_atomically(Path(filepath), lambda tmp: self.model.save_weights(tmp), mode=0o644,
                               suffix=".tmp.weights.h5")
        else:
            atomic_save(self.model, filepath)
        if self.verbose > 0:
            keras.utils.io_utils.print_msg(f"Epoch {epoch + 1}: saved {filepath}")
