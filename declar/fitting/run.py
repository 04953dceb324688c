"""The `declar fit` job: the model to train, its data, the options, the callbacks, `model.fit`,
the atomic save and the history, each step from the module that owns it.

`train` is the whole job as a sequence of steps; each step is one call, so that resuming,
adapting and multi-worker training each add theirs in one place.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from declar.adapt import adapt_model
from declar.api import model_to_train, save, train_located
from declar.archive import check_archive_target, is_archive
from declar.fitting.batches import fit_inputs
from declar.fitting.history import write_history
from declar.fitting.progress import progress, silenced
from declar.fitting.resume import NoResume, resume_run
from declar.limits import DEFAULT_LIMITS, Limits
from declar.sections.distribution.build import (
    joining_cluster,
    refuse_cluster_without_distribution,
    reporting_lost_peers,
    share_data,
)
from declar.sections.distribution.cluster import is_chief, read_cluster
from declar.sections.training.build import check_class_weight, fit_options, make_callbacks
from declar.spec.load import SpecSource
from declar.spec.model import Spec, TrainingSpec
from declar.training_data import open_training_data

if TYPE_CHECKING:
    import keras


def train(source: SpecSource | Spec | str | os.PathLike[str], data: str | os.PathLike[str] | None,
          out_path: str | os.PathLike[str], *, epochs: int | None = None, batch_size: int | None = None,
          validation_split: float | None = None, shuffle: bool | None = None, verbose: int | str = "auto",
          limits: Limits = DEFAULT_LIMITS) -> keras.callbacks.History:
    """Train and save; see `declar.fit`, the public form of this function.

    ``data`` None means the section's ``training.data``; each option given (not None) overrides the
    section's setting; ``verbose`` is `declar.fitting.progress.progress`'s (0 for ``--quiet``).
    """
    if is_archive(out_path):  # its directory, as the section's callbacks make theirs under it
        os.makedirs(os.path.dirname(os.fspath(out_path)) or ".", exist_ok=True)
    check_archive_target(out_path)  # before the epochs a refusal at the save would lose
    with joining_cluster():  # several processes: bounded wait for the peers (DECLAR_CLUSTER_TIMEOUT)
        model, loaded = model_to_train(source, limits)
    spec: Spec = model.declar_spec
    if spec.distribution is None:
        refuse_cluster_without_distribution()
    section = spec.training or TrainingSpec()
    check_class_weight(loaded, model)
    options = fit_options(section, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                          shuffle=shuffle)
    fit_data, validation = open_training_data(loaded, model, data, options, limits)
    if not loaded.origin.archive:  # an archive's preprocessing layers were adapted when it was made
        adapt_model(model, fit_data, limits)
    fit_data, options = share_data(model, fit_data, options)  # several processes: each one's rows
    if validation_split:  # the command line's split replaces the section's validation_data
        validation = None
    inputs = fit_inputs(fit_data, validation, options, section.order_seed(spec.seed))
    say = print if verbose != 0 else None  # what happens to the backup; --quiet (0) silences it too
    verbose, printers = progress(verbose)  # (Keras's own verbose: 0 when declar prints plain lines)
    # A cluster's workers keep no backup: each would write the same one (see NoResume).
    resume = NoResume() if read_cluster() else resume_run(
        out_path, model, [d.source for d in (fit_data, validation) if d is not None], options, section,
        say=say, source=source)
    callbacks = silenced([*resume.callbacks(make_callbacks(section, out_path)), *inputs.callbacks, *printers],
                         verbose)
    with reporting_lost_peers():
        history = train_located(model, loaded, **inputs.arguments, callbacks=callbacks, verbose=verbose,
                                initial_epoch=resume.initial_epoch)
    resume.trained()
    if is_chief():  # the other workers hold the same weights; one writes (Keras's multi-worker guide)
        save(model, out_path, limits=limits)
        write_history(history, out_path)
    resume.finish()
    return history
