"""`declar diff` of the training section: each changed setting, and each callback by its name.

The callbacks are a list, but a reviewer reads them by name: ``training.callbacks.EarlyStopping.
patience: 2 -> 5`` rather than the whole list twice. A callback listed more than once is keyed
``Name#2``, ``Name#3`` after the first.

Example:
    >>> from declar.sections.changes import changes
    >>> old = keyed({"callbacks": [{"EarlyStopping": {"patience": 2}}, "TerminateOnNaN"]})
    >>> new = keyed({"callbacks": [{"EarlyStopping": {"patience": 5}}]})
    >>> [c.render() for c in changes(old, new, "training")]
    ['training.callbacks.EarlyStopping.patience: 2 -> 5', 'training.callbacks.TerminateOnNaN: {} -> (unset)']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from declar.sections.changes import MISSING, changes
from declar.spec.model import Spec

if TYPE_CHECKING:
    from declar.compare import SpecDiff


def keyed(section: Any) -> Any:
    """The section with its callbacks as a mapping from name to arguments (anything else as it is)."""
    if not isinstance(section, Mapping) or not isinstance(section.get("callbacks"), list):
        return section
    callbacks: dict[str, Any] = {}
    for item in section["callbacks"]:
        name, args = (item, {}) if isinstance(item, str) else next(iter(item.items())) if \
            isinstance(item, Mapping) and len(item) == 1 else (str(item), None)
        key, n = str(name), 1
        while key in callbacks:
            n += 1
            key = f"{name}#{n}"
        callbacks[key] = dict(args) if isinstance(args, Mapping) else args
    return {**section, "callbacks": callbacks}


def diff_training(old: Spec, new: Spec, result: SpecDiff) -> None:
    """Fill ``result.settings`` with what changed in the training section."""
    result.settings += changes(keyed(_plain(old.section_data("training", MISSING))),
                               keyed(_plain(new.section_data("training", MISSING))), "training")


def _plain(value: Any) -> Any:
    """A Spec's frozen mappings and lists as the dicts and lists `changes` compares."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
