"""Problems found in a spec: plain data, rendered by the CLI, never a traceback.

Every stage before build yields `Problem` values; choosing and sorting happen once, in
`sort_problems`. `SpecError` carries a list of them across the Python API.

Example:
    >>> p = Problem(file="m.yaml", line=3, col=5, path=("model", 0), message="unknown layer 'Dens'",
    ...             hint="did you mean 'Dense'?", code="unknown-layer")
    >>> p.render()
    "m.yaml:3:5: error: unknown layer 'Dens' (did you mean 'Dense'?)"
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
from collections.abc import Iterable, Iterator, Sequence, Sized
from dataclasses import asdict, dataclass
from typing import Any

from declar.text import escape

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One located mistake in a spec.

    ``line`` and ``col`` are 1-based, as editors count them; ``path`` is the JSON path of the
    offending value; ``code`` is a stable kind (tests and tools match on it, not on wording).
    """

    file: str
    line: int
    col: int
    path: JsonPath
    message: str
    hint: str = ""
    code: str = "invalid"

    def render(self) -> str:
        """``file:line:col: error: message (hint)``, the form editors and CI annotate.

        Messages quote spec text, so control characters are shown escaped (`declar.text.escape`):
        a spec cannot send escape sequences to a terminal or forge another line of output.
        """
        hint = f" ({escape(self.hint)})" if self.hint else ""
        return f"{escape(self.file)}:{self.line}:{self.col}: error: {escape(self.message)}{hint}"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = format_path(self.path)
        return out


class SpecError(ValueError):
    """A spec (or the spec inside an archive) has problems; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = sort_problems(problems)
        shown = "\n".join(p.render() for p in self.problems[:20])
        more = len(self.problems) - 20
        super().__init__(shown + (f"\n... and {more} more" if more > 0 else ""))


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Deduplicate and order by position, so output does not depend on discovery order."""
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.message))


def format_path(path: JsonPath) -> str:
    """``("model", 0, "Dense")`` -> ``$.model[0].Dense``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


# Each hint compares a word with every candidate; a file with thousands of bad references would
# otherwise take quadratic time. Hints stop once this many comparisons were made in one
# validation (see `hint_budget`): about 0.2 s of work, hundreds of hints in any real spec.
MAX_HINT_COMPARISONS = 30_000
_hints_left: contextvars.ContextVar[int] = contextvars.ContextVar("declar_hints_left", default=MAX_HINT_COMPARISONS)


@contextlib.contextmanager
def hint_budget(comparisons: int = MAX_HINT_COMPARISONS) -> Iterator[None]:
    """Spend at most ``comparisons`` on "did you mean" hints inside the block (one validation)."""
    token = _hints_left.set(comparisons)
    try:
        yield
    finally:
        _hints_left.reset(token)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A "did you mean" hint, or an empty string when nothing is close (or the budget is spent)."""
    left = _hints_left.get()
    if isinstance(choices, Sized) and left < len(choices):
        return ""  # before copying the candidates: a spent budget costs nothing per hint
    pool = list(choices)
    if left < len(pool):
        return ""
    _hints_left.set(left - len(pool))
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f"did you mean '{close[0]}'?" if close else ""
