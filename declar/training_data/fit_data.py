"""What every data source gives `declar fit`: the data in the form `model.fit` takes it.

Arrays (`.npz`, CSV) come whole: ``model.fit`` batches and shuffles them and can split off a
validation fraction. Datasets (image directories, TFRecord) come ``batched``: the source made the
batches, so ``batch_size`` is not passed again (Keras refuses it for a dataset) and a
``validation_split`` is refused with a message (a dataset cannot be split; give validation data);
the source shuffled it if asked (`ReadOptions`), so `model.fit` is told not to.

Example:
    >>> FitData(x="<a dataset>", batched=True, source="images/").fit_arguments({"epochs": 2, "batch_size": 8})
    {'x': '<a dataset>', 'y': None, 'epochs': 2, 'shuffle': False}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from declar.errors import DataError
from declar.spec.model import Spec, TrainingSpec


@dataclass(frozen=True)
class ReadOptions:
    """How a source that makes its own batches (a dataset) makes them; arrays ignore these
    (`model.fit` batches and shuffles arrays itself)."""

    batch_size: int = 32
    shuffle: bool = False
    seed: int | None = None
    """The shuffling seed: the same order on every run."""

    @classmethod
    def from_section(cls, spec: Spec) -> ReadOptions:
        """As the spec's training section says (batch_size, shuffle, shuffle_seed), else the defaults."""
        section = spec.training or TrainingSpec()
        return cls(section.batch_size or cls.batch_size, bool(section.shuffle), section.order_seed(spec.seed))


@dataclass(frozen=True)
class FitData:
    """Training data as `model.fit` takes it: ``x`` and ``y`` arrays (one, a list or a dict), or
    ``x`` a batched dataset of ``(inputs, targets)`` and ``y`` None.

    Example:
        >>> sorted(FitData(x=[[1.0]], y=[[0.0]]).fit_arguments())
        ['x', 'y']
    """

    x: Any
    y: Any = None
    batched: bool = False
    """``x`` is a dataset that yields whole batches (``batch_size`` is not given to `model.fit`)."""
    source: str = ""
    """The file or directory it was read from, for messages."""

    def fit_arguments(self, options: Mapping[str, Any] | None = None, validation: FitData | None = None
                      ) -> dict[str, Any]:
        """The keyword arguments of `model.fit`: the data, then ``options`` as this data allows them,
        then ``validation`` as ``validation_data``.

        Raises `DataError` for a ``validation_split`` of batched data.
        """
        arguments: dict[str, Any] = {"x": self.x, "y": self.y, **(options or {})}
        if self.batched:
            if arguments.get("validation_split"):
                raise DataError(f"{self.source}: validation_split cannot split a dataset (it comes in batches); "
                                "give validation data instead (training.validation_data)", file=self.source)
            arguments.pop("validation_split", None)
            arguments.pop("batch_size", None)
            arguments["shuffle"] = False  # the source shuffled it (Keras warns at its default, True)
        if validation is not None:
            arguments["validation_data"] = validation.validation_argument()
        return arguments

    def validation_argument(self) -> Any:
        """This data as `model.fit`'s ``validation_data``: the dataset, or the ``(x, y)`` pair."""
        return self.x if self.batched else (self.x, self.y)
