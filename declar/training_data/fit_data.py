"""What every data source gives `declar fit`: the data in the form `model.fit` takes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FitData:
    """Training data as `model.fit` takes it: ``x`` and ``y`` arrays (one, a list or a dict).

    Example:
        >>> sorted(FitData(x=[[1.0]], y=[[0.0]]).fit_arguments())
        ['x', 'y']
    """

    x: Any
    y: Any = None
    batched: bool = False
    """True when ``x`` is a batched dataset of ``(x, y)`` (``y`` is then None)."""

    def fit_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `model.fit` that carry the data."""
        return {"x": self.x, "y": self.y}
