"""Which Keras callbacks a spec may name, and why the others are refused (no keras import).

A callback is made from Keras's own class with the spec's arguments, so the allow-list holds only
callbacks whose arguments are plain values and whose effects stay inside the run: they stop
training, change the learning rate, or write files under the output archive's directory.
Their signatures are in the catalog (``callbacks``), generated from the installed Keras.

Example:
    >>> "EarlyStopping" in ALLOWED, "LambdaCallback" in REFUSED
    (True, True)
"""

from __future__ import annotations

ALLOWED = ("EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint", "BackupAndRestore", "CSVLogger",
           "TensorBoard", "TerminateOnNaN")
"""The callbacks a training section may list, in the order the docs show them."""

REFUSED = {
    "LambdaCallback": "it runs Python functions, and no text from a spec is ever run as code",
    "RemoteMonitor": "it sends the training logs to a URL; a spec never makes network requests",
    "LearningRateScheduler": "it takes a Python function; give compile.optimizer a learning-rate schedule "
                             "(learning_rate: {name: exponential_decay, ...}) or use ReduceLROnPlateau",
    "ProgbarLogger": "declar fit prints the progress itself (a bar on a terminal, one line per epoch when piped; "
                     "--quiet for none)",
    "History": "declar fit always records the history and writes it next to the archive",
    "OrbaxCheckpoint": "it writes outside declar's atomic archives; use ModelCheckpoint or BackupAndRestore",
    "SwapEMAWeights": "not on the allow-list of callbacks a spec may use",
    "Callback": "the base class of callbacks does nothing by itself",
    "CallbackList": "the list of callbacks is the training section's callbacks: list them there",
}
"""Keras callbacks a spec may not use, with the reason given in the message."""

PATH_ARGS = {"ModelCheckpoint": "filepath", "BackupAndRestore": "backup_dir", "CSVLogger": "filename",
             "TensorBoard": "log_dir"}
"""The argument of each callback that names where it writes: relative to the output archive's
directory, never absolute, never through ``..``."""

REFUSED_ARGS = {
    ("TensorBoard", "embeddings_metadata"): "it names files TensorBoard reads from outside the run",
    # declar fit's own resume (declar.fitting.resume) backs up every epoch atomically; the section's
    # BackupAndRestore only places that backup (backup_dir) and keeps it (delete_checkpoint: false).
    ("BackupAndRestore", "save_freq"): "declar fit backs up after every epoch, atomically",
    ("BackupAndRestore", "double_checkpoint"): "declar fit's backup is atomic: a kill never leaves half of one",
}
"""Arguments of allowed callbacks that a spec may not give, with the reason."""

MODES = ("auto", "min", "max")
"""The values of ``mode`` (EarlyStopping, ReduceLROnPlateau, ModelCheckpoint): Keras warns and
falls back to ``auto`` on anything else, hiding a typo."""
