"""The training section's checks: what the schema cannot say about its settings and callbacks."""

from __future__ import annotations

from collections.abc import Iterator

from declar.errors import Problem
from declar.limits import Limits
from declar.spec.loaded import LoadedSpec


def check_training(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    """Every problem of the ``training:`` section, located (the callbacks' names and arguments)."""
    if not loaded.document.data.get("training"):
        return
    yield from ()
