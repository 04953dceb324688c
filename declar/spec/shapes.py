"""The rule for a computed shape, applied wherever one is computed: validate, build and load.

A custom layer's variable shapes are expressions over its parameters and the input shape; the
result must be a short list of non-negative integers, within `Limits.max_variable_elements`.
Validation reports a shape that breaks the rule at its line; the build and the weight budget ask
again, since a shape can depend on the input shape only known then.

Example:
    >>> from declar.limits import Limits
    >>> list(shape_errors([4, 4.0], Limits()))
    [('shape size 4.0 is not an integer', 'sizes must be whole numbers, e.g. 4 not 4.0')]
    >>> list(shape_errors([4, 8], Limits()))
    []
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from declar.limits import Limits


def shape_errors(sizes: Iterable[Any], limits: Limits) -> Iterator[tuple[str, str]]:
    """Messages for a computed shape that is not a small list of non-negative integers."""
    sizes = list(sizes)
    total = 1
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int):  # 4.0 too: JSON Schema calls it an integer
            yield f"shape size {s!r} is not an integer", "sizes must be whole numbers, e.g. 4 not 4.0"
            return
        if s < 0:
            yield f"shape size {s} is negative", ""
            return
        total *= s
    if total > limits.max_variable_elements:
        # Python cannot print integers of more than 4,300 digits; such shapes are shown by magnitude.
        shown = f"{total:,}" if total.bit_length() < 1000 else f"about 2**{total.bit_length() - 1}"
        listed = str(sizes) if all(s.bit_length() < 1000 for s in sizes) else f"of {len(sizes)} huge sizes"
        yield (f"shape {listed} has {shown} elements, over the limit of {limits.max_variable_elements:,}",
               "raise Limits.max_variable_elements if this is intended")

