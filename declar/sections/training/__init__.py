"""`training`: how `declar fit` trains the model: epochs, batch size, validation (a split or a data
file), shuffling with a seed, class weights, and callbacks from an allow-list of Keras's own.

Its typed part is `Spec.training` (`TrainingSpec`); its checks are in `checks`; `build` makes the
arguments of `model.fit` and the callbacks; `declar diff` lists each changed setting
and each callback by its name (`diff`). Options of
`declar fit` given on the command line override the section's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from declar.sections.section import Section
from declar.sections.training.checks import check_training
from declar.sections.training.diff import diff_training
from declar.spec.model import TrainingSpec


def _from_data(data: Mapping[str, Any]) -> TrainingSpec | None:
    return TrainingSpec.from_data(data.get("training"))


SECTION = Section("training", ("training",), ("training",), _from_data, (check_training,),
                  diff_training, "how `declar fit` trains: epochs, validation, callbacks")


def describe(section: TrainingSpec) -> str:
    """One line saying how the section trains, for `declar inspect`.

    Example:
        >>> describe(TrainingSpec.from_data({"epochs": 3, "validation_split": 0.1, "callbacks": ["TerminateOnNaN"]}))
        'epochs 3, validation_split 0.1, callbacks TerminateOnNaN'
    """
    settings = [f"{key} {getattr(section, key)}" for key in ("data", "epochs", "batch_size", "validation_split",
                                                              "validation_data", "shuffle", "shuffle_seed")
                if getattr(section, key) is not None]
    if section.class_weight:
        settings.append("class_weight " + ", ".join(f"{k}: {v}" for k, v in section.class_weight.items()))
    if section.callbacks:
        settings.append("callbacks " + ", ".join(c.name for c in section.callbacks))
    return ", ".join(settings) or "defaults"
