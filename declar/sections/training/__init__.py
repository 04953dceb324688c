"""`training`: how `declar fit` trains the model: epochs, batch size, validation (a split or a data
file), shuffling with a seed, class weights, and callbacks from an allow-list of Keras's own.

Its typed part is `Spec.training` (`TrainingSpec`); its checks are in `checks`; `build` makes the
arguments of `model.fit` and the callbacks; `declar diff` lists each changed setting. Options of
`declar fit` given on the command line override the section's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from declar.sections.changes import diff_settings
from declar.sections.section import Section
from declar.sections.training.checks import check_training
from declar.spec.model import TrainingSpec


def _from_data(data: Mapping[str, Any]) -> TrainingSpec | None:
    return TrainingSpec.from_data(data.get("training"))


SECTION = Section("training", ("training",), ("training",), _from_data, (check_training,),
                  diff_settings("training"), "how `declar fit` trains: epochs, validation, callbacks")
