"""The `declar fit` job: the model to train, its data, the options, the callbacks, `model.fit`,
the atomic save and the history, each step from the module that owns it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from declar.api import model_to_train, save, train_located
from declar.errors import DataError
from declar.fitting.history import write_history
from declar.fitting.progress import progress
from declar.fitting.resume import resume_callbacks
from declar.limits import DEFAULT_LIMITS, Limits
from declar.sections.distribution.build import (
    joining_cluster,
    refuse_cluster_without_distribution,
    reporting_lost_peers,
    share_data,
)
from declar.sections.distribution.cluster import is_chief
from declar.sections.training.build import fit_options, make_callbacks
from declar.spec.load import SpecSource
from declar.spec.model import Spec
from declar.training_data import open_data

if TYPE_CHECKING:
    import keras


def train(source: SpecSource | Spec | str | os.PathLike[str], data: str | os.PathLike[str] | None,
          out_path: str | os.PathLike[str], *, epochs: int | None = None, batch_size: int | None = None,
          validation_split: float | None = None, verbose: int | str = "auto", limits: Limits = DEFAULT_LIMITS
          ) -> keras.callbacks.History:
    """Train and save; see `declar.fit`, the public form of this function."""
    with joining_cluster():  # several processes: bounded wait for the peers (DECLAR_CLUSTER_TIMEOUT)
        model, loaded = model_to_train(source, limits)
    spec: Spec = model.declar_spec
    if spec.distribution is None:
        refuse_cluster_without_distribution()
    options = fit_options(spec.training, epochs=epochs, batch_size=batch_size, validation_split=validation_split)
    if data is None:
        raise DataError("no training data: give --data, or data: in the spec's training section")
    fit_data, options = share_data(model, open_data(data, model, limits), options)  # each process's rows
    verbose, printers = progress(verbose)
    callbacks = [*make_callbacks(spec.training), *resume_callbacks(out_path), *printers]
    with reporting_lost_peers():
        history = train_located(model, loaded, **fit_data.fit_arguments(), **options, callbacks=callbacks,
                                verbose=verbose)
    if is_chief():  # the other workers hold the same weights; one writes (Keras's multi-worker guide)
        save(model, out_path, limits=limits)
        write_history(history, out_path)
    return history
