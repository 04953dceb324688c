"""Regular expressions from a spec: only a subset that Python's backtracking engine matches fast.

Keras matches every `distribution.layout_map` key against every variable path with `re.fullmatch`,
a backtracking engine: `(a|aa)*c` takes exponential time on a path of a's, and a spec names both
the pattern and (through its layer names) the paths. A pattern is therefore accepted only when it
is in a subset whose matching time is bounded:

- at most `MAX_PATTERN_CHARS` characters;
- no quantified group that itself holds a quantifier or an alternation (`(a|aa)*`, `(a+)+`,
  `(?:ab|c){2,}`): write a character class (`[ab]*`) or spell the repetition out;
- at most `MAX_VARIABLE_REPEATS` quantifiers that can match a varying number of times (`*`, `+`,
  `?`, `{2,5}`; a fixed count `{3}` is free): with more, `.*a.*a.*a.*a` is polynomial of high
  degree and `a?` repeated is exponential;
- no backreferences (`\\1`, `(?P=name)`, `(?(1)...)`) and no lookarounds (`(?=`, `(?!`, `(?<=`, `(?<!`);
- bounded counts at most `MAX_REPEAT_COUNT`;

and a layout map holds at most `MAX_LAYOUT_KEYS` keys.

What people write for layouts (`dense.*kernel`, `.*/bias`, `encoder/layer_\\d+/.*kernel`) is in it.

Example:
    >>> pattern_problem("dense.*kernel") is None
    True
    >>> pattern_problem("(a|aa)*c")
    'a quantified group holds an alternation (|): matching can take exponential time'
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+: the parser behind re.compile
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

MAX_PATTERN_CHARS = 256
MAX_VARIABLE_REPEATS = 3
MAX_REPEAT_COUNT = 256
# Keras matches every variable path against every layout_map key (`LayoutMap.__getitem__`), and
# Python's `re` keeps only 512 compiled patterns (`re._MAXCACHE`): past that, each match recompiles
# (3,000 keys on 200 Dense layers took 46 s). 256 keys keep every key compiled, with half the cache
# left to Keras and TensorFlow, and bound the work to 256 fast matches per variable.
MAX_LAYOUT_KEYS = 256
SUBSET_HINT = ("layout patterns are a safe regex subset: no nested or alternating quantified groups, at most "
               f"{MAX_VARIABLE_REPEATS} of * + ? {{m,n}}, no backreferences or lookarounds (e.g. dense.*kernel)")

_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", _sre.MAX_REPEAT)}
_LOOKAROUNDS = {_sre.ASSERT, _sre.ASSERT_NOT}
_BACKREFERENCES = {_sre.GROUPREF, _sre.GROUPREF_EXISTS, getattr(_sre, "GROUPREF_IGNORE", _sre.GROUPREF)}


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is outside the safe subset, or None when it may be matched."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"pattern is {len(pattern):,} characters, over the limit of {MAX_PATTERN_CHARS}"
    try:
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as err:
        return f"not a regular expression: {err}"
    found: list[str] = []
    variable = _walk(list(parsed), inside_repeat=False, found=found)
    if found:
        return found[0]
    if variable > MAX_VARIABLE_REPEATS:
        return (f"pattern has {variable} quantifiers that match a varying count (*, +, ?, {{m,n}}), over "
                f"{MAX_VARIABLE_REPEATS}: matching can take polynomial time of high degree")
    return None


def layout_keys_problem(layout_map: Any) -> str | None:
    """Why a layout map has too many keys to match fast, or None.

    Example:
        >>> layout_keys_problem({f"dense_{i}/kernel": [None] for i in range(300)})
        'layout_map has 300 keys, over the limit of 256: each variable path is matched against every key'
    """
    if isinstance(layout_map, dict) and len(layout_map) > MAX_LAYOUT_KEYS:
        return (f"layout_map has {len(layout_map):,} keys, over the limit of {MAX_LAYOUT_KEYS}: each variable path "
                "is matched against every key")
    return None


def _walk(items: list[tuple[Any, Any]], inside_repeat: bool, found: list[str]) -> int:
    """Walk parsed items, recording the first refusal in ``found``; returns the variable repeats met."""
    variable = 0
    for op, arg in items:
        if found:
            return variable
        if op in _BACKREFERENCES:
            found.append("backreferences are not allowed in a pattern")
        elif op in _LOOKAROUNDS:
            found.append("lookarounds ((?=, (?!, (?<=, (?<!) are not allowed in a pattern")
        elif op in _REPEATS:
            low, high, body = arg
            if inside_repeat:
                found.append("a quantified group holds another quantifier: matching can take exponential time")
                return variable
            if (high is not _sre.MAXREPEAT and high > MAX_REPEAT_COUNT) or low > MAX_REPEAT_COUNT:
                found.append(f"a repeat count over {MAX_REPEAT_COUNT} is not allowed in a pattern")
                return variable
            if low != high:  # `?` too: `a?` thirty times then `a` thirty times is the classic exponential case
                variable += 1
            variable += _walk(list(body), inside_repeat=True, found=found)
        elif op is _sre.BRANCH:
            if inside_repeat:
                found.append("a quantified group holds an alternation (|): matching can take exponential time")
                return variable
            for branch in arg[1]:
                variable += _walk(list(branch), inside_repeat, found)
        elif op is _sre.SUBPATTERN:
            variable += _walk(list(arg[-1]), inside_repeat, found)
        elif op is getattr(_sre, "ATOMIC_GROUP", None):
            variable += _walk(list(arg), inside_repeat, found)
    return variable
