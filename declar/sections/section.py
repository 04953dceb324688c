"""What a section of the spec is: one entry of the registry in `declar.sections`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from declar.errors import Problem
from declar.limits import Limits
from declar.spec.loaded import LoadedSpec
from declar.spec.model import Spec

if TYPE_CHECKING:  # the diff's result type; declar.compare imports the registry, not the reverse
    from declar.compare import SpecDiff

Check = Callable[[LoadedSpec, Limits], Iterator[Problem]]
"""A semantic check: every problem of its section, located in the spec's document."""

DiffRule = Callable[[Spec, Spec, "SpecDiff"], None]
"""Fills in a `SpecDiff` what differs in its section between an old and a new Spec."""


@dataclass(frozen=True)
class Section:
    """One top-level section of the spec format.

    ``keys`` are the schema's top-level properties it owns (the header owns several); ``fields``
    are the attributes of `Spec` holding its typed part, made by ``from_data`` (a tuple of values
    when there are several).
    """

    name: str
    keys: tuple[str, ...]
    fields: tuple[str, ...]
    from_data: Callable[[Mapping[str, Any]], Any]
    checks: tuple[Check, ...]
    diff: DiffRule
    summary: str
