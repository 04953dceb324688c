"""Draw a training history (`declar plot-history`): one panel per metric, training and validation.

Like `declar plot`, the drawing needs nothing by default: an ``.svg`` is written by declar itself
(text, like the DOT of `declar plot`). A ``.png`` is drawn by matplotlib, an optional dependency
(``pip install 'declar[plot]'``); without it the message says so and suggests ``.svg``.

Example:
    >>> svg = to_svg({"epoch": [1, 2, 3], "loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.7, None]})
    >>> svg.startswith("<svg"), svg.count("<polyline")
    (True, 2)
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from declar.errors import PlotError
from declar.text import escape

FORMATS = ("svg", "png")
EXTRA_HINT = "pip install 'declar[plot]' (matplotlib)"
TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#ff7f0e"
WIDTH, PANEL, MARGIN = 640, 220, 56


def panels(history: dict[str, list[Any]]) -> list[tuple[str, list[Any], list[Any] | None]]:
    """(metric, training curve, validation curve or None) for each metric: the loss first, then the
    others in the history's order.

    Example:
        >>> [name for name, _, _ in panels({"epoch": [1], "acc": [1.0], "loss": [1.0], "val_loss": [2.0]})]
        ['loss', 'acc']
    """
    curves = {k: v for k, v in history.items() if k != "epoch"}
    out = []
    for name, values in sorted(curves.items(), key=lambda item: item[0] != "loss"):
        if name.startswith("val_") and name[4:] in curves:
            continue  # drawn with its training curve
        out.append((name, values, curves.get(f"val_{name}")))
    return out


def check_can_write(path: str | os.PathLike[str]) -> str:
    """The format of ``path`` (svg or png), or `PlotError` before any work is done."""
    out = Path(path)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise PlotError(f"{path}: cannot tell the format from the name; use .svg (needs nothing) or .png "
                        f"(needs matplotlib: {EXTRA_HINT})", file=os.fspath(path))
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise PlotError(f"{path}: directory {out.parent} does not exist", file=os.fspath(path))
    if fmt == "png" and importlib.util.find_spec("matplotlib") is None:
        raise PlotError(f"{path}: drawing a .png needs matplotlib, which is not installed: {EXTRA_HINT}; "
                        "or write an .svg, which needs nothing", file=os.fspath(path))
    return fmt


def write(history: dict[str, list[Any]], path: str | os.PathLike[str]) -> None:
    """Draw ``history`` (from `declar.fitting.history.read_history`) to ``path`` (.svg or .png)."""
    if check_can_write(path) == "svg":
        Path(path).write_text(to_svg(history), encoding="utf-8")
    else:
        _write_png(history, Path(path))


def _points(epochs: list[int], values: list[Any]) -> list[tuple[int, float]]:
    return [(e, float(v)) for e, v in zip(epochs, values, strict=True) if v is not None]


def to_svg(history: dict[str, list[Any]]) -> str:
    """The history as an SVG picture: a panel per metric, the training curve solid, validation dashed."""
    epochs, shown = history["epoch"], panels(history)
    height = max(1, len(shown)) * PANEL
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'font-family="Helvetica, Arial, sans-serif" font-size="11">',
             f'<rect width="{WIDTH}" height="{height}" fill="white"/>']
    first, last = (min(epochs), max(epochs)) if epochs else (1, 1)
    for i, (name, train, val) in enumerate(shown):
        top = i * PANEL
        curves = [(c, _points(epochs, v)) for c, v in ((TRAIN_COLOUR, train), (VAL_COLOUR, val)) if v is not None]
        values = [y for _, pts in curves for _, y in pts] or [0.0]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        left, right, y0, y1 = MARGIN, WIDTH - 16, top + PANEL - 28, top + 24

        def place(e: int, v: float, left: float = left, right: float = right, y0: float = y0, y1: float = y1,
                  low: float = low, span: float = span) -> str:
            x = left + (right - left) * ((e - first) / ((last - first) or 1))
            return f"{x:.1f},{y0 - (y0 - y1) * ((v - low) / span):.1f}"

        parts.append(f'<text x="{left}" y="{top + 16}" font-weight="bold">{xml_escape(escape(name))}</text>')
        parts.append(f'<rect x="{left}" y="{y1}" width="{right - left}" height="{y0 - y1}" fill="none" '
                     'stroke="#999"/>')
        parts.append(f'<text x="{left - 4}" y="{y1 + 4}" text-anchor="end">{high:.4g}</text>')
        parts.append(f'<text x="{left - 4}" y="{y0}" text-anchor="end">{low:.4g}</text>')
        parts.append(f'<text x="{left}" y="{y0 + 14}">epoch {first}</text>')
        parts.append(f'<text x="{right}" y="{y0 + 14}" text-anchor="end">epoch {last}</text>')
        for n, (colour, pts) in enumerate(curves):
            dash = ' stroke-dasharray="5,3"' if n else ""
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="'
                         + " ".join(place(e, v) for e, v in pts) + '"/>')
            label = "training" if n == 0 else "validation"
            parts.append(f'<text x="{right - 70 * (len(curves) - n)}" y="{top + 16}" fill="{colour}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _write_png(history: dict[str, list[Any]], path: Path) -> None:
    import matplotlib  # an optional dependency: check_can_write made sure it is there

    matplotlib.use("Agg")  # no display: draw to a file
    import matplotlib.pyplot as plt

    shown = panels(history)
    figure, axes = plt.subplots(max(1, len(shown)), 1, figsize=(6.4, 2.4 * max(1, len(shown))), squeeze=False)
    for axis, (name, train, val) in zip(axes[:, 0], shown, strict=False):
        for label, values, style in (("training", train, "-"), ("validation", val, "--")):
            if values is not None:
                pts = _points(history["epoch"], values)
                axis.plot([e for e, _ in pts], [v for _, v in pts], style, label=label)
        axis.set_title(escape(name))
        axis.set_xlabel("epoch")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
