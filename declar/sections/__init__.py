"""The sections of a spec, one unit each, and the registry that lists them.

A spec is a set of top-level sections. Each section is one module (or a small package) of
`declar.sections` that owns, for its part of the spec:

- its typed model: the part of the frozen `Spec` it fills (`Section.field`, made by `from_data`;
  the typed classes live in `declar.spec.model` so that reading a Spec needs no checks);
- its semantic checks: what the JSON Schema cannot say, each a generator of located `Problem`s;
- its build step: a ``build`` module, the only part that imports Keras (never imported from here);
- its diff rule: what `declar diff` reports for it;
- its docs: the module docstring, which the README's section list uses.

`SECTIONS` is the one registry: validation runs the checks in its order, `declar diff` the diff
rules, and a test checks that its keys are exactly the schema's top-level properties.

Example:
    >>> [s.name for s in SECTIONS]
    ['header', 'inputs', 'layers', 'blocks', 'model', 'functions', 'compile', 'distribution', 'training']
    >>> section_of("seed").name
    'header'
"""

from __future__ import annotations

from collections.abc import Iterator

from declar.errors import Problem
from declar.limits import Limits
from declar.sections import blocks, compile, distribution, functions, header, inputs, layers, model, training
from declar.sections.section import Check, DiffRule, Section
from declar.spec.loaded import LoadedSpec

SECTIONS: tuple[Section, ...] = (
    header.SECTION,
    inputs.SECTION,
    layers.SECTION,
    blocks.SECTION,
    model.SECTION,
    functions.SECTION,
    compile.SECTION,
    distribution.SECTION,
    training.SECTION,
)


def section_of(key: str) -> Section:
    """The section that owns the top-level key ``key`` of a spec."""
    return next(s for s in SECTIONS if key in s.keys)


def semantic_problems(loaded: LoadedSpec, limits: Limits) -> list[Problem]:
    """Run every section's checks; all problems are returned, none stops the others."""
    return list(_problems(loaded, limits))


def _problems(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    for section in SECTIONS:
        for check in section.checks:
            yield from check(loaded, limits)


__all__ = ["SECTIONS", "Check", "DiffRule", "Section", "section_of", "semantic_problems"]
