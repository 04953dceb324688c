"""How the training samples reach `model.fit`: in their order, or shuffled with a seed.

Keras's own ``shuffle=True`` draws a new order from the global random state, so two runs (or a run
resumed after a kill) see different orders. Here the order of epoch N is a permutation drawn from
``numpy.random.default_rng([seed, N])``: it depends on the seed and the epoch number alone, so
every run, and a run resumed at epoch N, sees the same batches. The samples held out by
``validation_split`` are the last ones before shuffling, as in Keras.

Example:
    >>> import numpy as np
    >>> batches = SeededBatches(np.arange(6), np.arange(6), batch_size=4, seed=7)
    >>> batches.epoch = 2
    >>> x, y = batches[0]
    >>> len(batches), x.tolist() == y.tolist(), sorted([*x.tolist(), *batches[1][0].tolist()])
    (2, True, [0, 1, 2, 3, 4, 5])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from declar.training_data import FitData


def epoch_order(samples: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the samples in epoch ``epoch`` (counted from 0) under ``seed``.

    Example:
        >>> epoch_order(5, 1, 3).tolist() == epoch_order(5, 1, 3).tolist(), sorted(epoch_order(5, 1, 3).tolist())
        (True, [0, 1, 2, 3, 4])
    """
    return np.random.default_rng([seed, epoch]).permutation(samples)


def _take(data: Any, index: Any) -> Any:
    """``data`` (an array, a list or tuple of arrays, a dict of arrays, or None) at ``index``."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: _take(v, index) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_take(v, index) for v in data)
    return np.asarray(data)[index]


def _samples(data: Any) -> int:
    first = next(iter(data.values())) if isinstance(data, dict) else data[0] if isinstance(data, (list, tuple)) \
        else data
    return len(first)


class SeededBatches(keras.utils.PyDataset):
    """The batches of ``x`` and ``y`` in the order `epoch_order` gives for the epoch in ``epoch``
    (set by `EpochOrder` before each epoch begins)."""

    def __init__(self, x: Any, y: Any, *, batch_size: int, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.samples = _samples(x)
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        order = epoch_order(self.samples, self.seed, self.epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        return _take(self.x, order), _take(self.y, order)


class EpochOrder(keras.callbacks.Callback):
    """Tells `SeededBatches` which epoch begins (Keras's epoch number, so a resumed run's too)."""

    def __init__(self, batches: SeededBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.batches.epoch = epoch


@dataclass
class FitInputs:
    """The data arguments of `model.fit` and the callbacks that go with them."""

    arguments: dict[str, Any]
    callbacks: list[keras.callbacks.Callback] = field(default_factory=list)


def fit_inputs(data: FitData, validation: FitData | None, options: dict[str, Any], seed: int) -> FitInputs:
    """What `model.fit` gets for ``data``: ``options`` (from `fit_options`) applied, the samples
    shuffled by `SeededBatches` when ``options["shuffle"]`` says so.

    Example:
        >>> import numpy as np
        >>> data = FitData(np.ones((10, 2)), np.zeros((10, 1)))
        >>> options = {"epochs": 2, "batch_size": 4, "validation_split": 0.2, "shuffle": True, "class_weight": None}
        >>> inputs = fit_inputs(data, None, options, seed=3)
        >>> type(inputs.arguments["x"]).__name__, len(inputs.arguments["validation_data"][0])
        ('SeededBatches', 2)
    """
    if data.batched:  # a dataset brings its own batches and order; the data source says what it allows
        return FitInputs(data.fit_arguments(options, validation))
    arguments = {**data.fit_arguments(), **options, "shuffle": False}  # Keras never draws the order
    if validation is not None:
        arguments["validation_data"] = validation.validation_argument()
    if not options["shuffle"]:
        return FitInputs(arguments)
    x, y = arguments.pop("x"), arguments.pop("y")
    split = options["validation_split"]
    if split:  # held out before shuffling: the last samples, as Keras's validation_split takes them
        at = math.floor(_samples(x) * (1.0 - split))
        arguments["validation_data"] = (_take(x, slice(at, None)), _take(y, slice(at, None)))
        x, y = _take(x, slice(0, at)), _take(y, slice(0, at))
    batches = SeededBatches(x, y, batch_size=options["batch_size"], seed=seed)
    del arguments["batch_size"], arguments["validation_split"]  # a PyDataset takes neither
    return FitInputs({"x": batches, **arguments}, [EpochOrder(batches)])
