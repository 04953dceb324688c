"""Hints ("did you mean 'Dense'?"), within a budget that one validation owns.

Each hint compares a word with every candidate; a file with thousands of bad references would
otherwise take quadratic time in difflib. A `HintBudget` bounds the comparisons of one
validation: every validation of `declar.spec.load` runs with a fresh one (`with_hint_budget`),
active for the checks it runs (`HintBudget.active`), so a budget is never shared between two
validations and never runs out for later ones. Outside a validation (the CLI's ``--limit``
names), each hint has a budget of its own.

Example:
    >>> did_you_mean("Dens", ["Dense", "Dropout"])
    "did you mean 'Dense'?"
    >>> budget = HintBudget(comparisons=1)
    >>> with budget.active():
    ...     did_you_mean("Dens", ["Dense", "Dropout"])
    ''
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import functools
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import ParamSpec, TypeVar

# About 0.2 s of difflib work, hundreds of hints in any real spec.
MAX_HINT_COMPARISONS = 30_000


class HintBudget:
    """How many candidate comparisons the hints of one validation may still make."""

    def __init__(self, comparisons: int = MAX_HINT_COMPARISONS):
        self.left = comparisons

    def did_you_mean(self, word: str, choices: Iterable[str]) -> str:
        """A "did you mean" hint, or an empty string when nothing is close (or this budget is spent)."""
        if isinstance(choices, Sized) and self.left < len(choices):
            return ""  # before copying the candidates: a spent budget costs nothing per hint
        pool = list(choices)
        if self.left < len(pool):
            return ""
        self.left -= len(pool)
        close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
        if not close:
            lowered = {c.lower(): c for c in pool}
            close = [lowered[word.lower()]] if word.lower() in lowered else []
        return f"did you mean '{close[0]}'?" if close else ""

    @contextlib.contextmanager
    def active(self) -> Iterator[HintBudget]:
        """Make this the budget of every `did_you_mean` inside the block (one validation's checks)."""
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)


# The budget of the validation in progress in this context; None outside one (never a shared count).
_active: contextvars.ContextVar[HintBudget | None] = contextvars.ContextVar("declar_hint_budget", default=None)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A "did you mean" hint, spending the budget of the validation in progress (see `HintBudget`)."""
    return (_active.get() or HintBudget()).did_you_mean(word, choices)


P = ParamSpec("P")
R = TypeVar("R")


def with_hint_budget(validation: Callable[P, R]) -> Callable[P, R]:
    """``validation`` runs each time with a fresh `HintBudget` of its own, active for its checks.

    Example:
        >>> @with_hint_budget
        ... def check(word):
        ...     return did_you_mean(word, ["Dense"])
        >>> check("Dens")
        "did you mean 'Dense'?"
    """

    @functools.wraps(validation)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with HintBudget().active():
            return validation(*args, **kwargs)

    return run


__all__ = ["MAX_HINT_COMPARISONS", "HintBudget", "did_you_mean", "with_hint_budget"]
