"""The training history written next to the archive: the loss and metrics of every epoch.

``out.keras`` gets ``out.history.json`` beside it, replaced atomically::

    {"declar_history": 1, "epoch": [1, 2, 3], "metrics": {"loss": [...], "val_loss": [...]}}

Epochs are numbered from 1, as Keras prints them; a value that is not finite (a loss gone NaN) is
``null``. A run resumed at epoch N keeps the file's epochs before N, so the file holds the whole
curve. `declar plot-history` draws it.

Example:
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> save_history({"loss": [0.5, 0.25]}, [0, 1], out)
    >>> read_history(history_path(out))["loss"]
    [0.5, 0.25]
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from declar.atomic import replace_atomically
from declar.errors import PlotError

if TYPE_CHECKING:
    import keras

HISTORY_SUFFIX = ".history.json"
FORMAT_KEY = "declar_history"
FORMAT = 1


def history_path(out_path: str | os.PathLike[str]) -> Path:
    """Where the history of the archive ``out_path`` goes: ``out.keras`` -> ``out.history.json``.

    Example:
        >>> history_path("runs/out.keras").as_posix()
        'runs/out.history.json'
    """
    out = Path(out_path)
    return out.with_name(out.name.removesuffix(".keras") + HISTORY_SUFFIX)


def write_history(history: keras.callbacks.History, out_path: str | os.PathLike[str]) -> None:
    """Write ``history`` (what `model.fit` returned) next to the archive ``out_path``."""
    save_history(history.history, history.epoch, out_path)


def save_history(metrics: dict[str, list[Any]], epochs: list[int], out_path: str | os.PathLike[str]) -> None:
    """Write ``metrics`` of the ``epochs`` (counted from 0, as Keras counts) next to ``out_path``,
    after the epochs an earlier, interrupted run recorded before them."""
    target = history_path(out_path)
    numbered = [int(e) + 1 for e in epochs]
    earlier = _earlier(target, numbered[0] if numbered else 1)
    names = list(dict.fromkeys([*earlier["metrics"], *metrics]))
    kept = len(earlier["epoch"])
    content = {FORMAT_KEY: FORMAT, "epoch": earlier["epoch"] + numbered,
               "metrics": {name: earlier["metrics"].get(name, [None] * kept) + [_finite(v) for v in metrics.get(
                   name, [None] * len(numbered))] for name in names}}
    text = json.dumps(content, indent=1, allow_nan=False) + "\n"
    replace_atomically(target, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=0o644)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _earlier(target: Path, first: int) -> dict[str, Any]:
    """The epochs before ``first`` of the history already at ``target`` (none for a fresh run)."""
    empty: dict[str, Any] = {"epoch": [], "metrics": {}}
    if first <= 1 or not target.is_file():
        return empty
    try:
        old = _parse(target)
    except PlotError:
        return empty  # an unreadable file is replaced, not merged
    keep = [i for i, e in enumerate(old["epoch"]) if e < first]
    return {"epoch": [old["epoch"][i] for i in keep],
            "metrics": {k: [v[i] for i in keep] for k, v in old["metrics"].items()}}


MAX_HISTORY_BYTES = 16 * 1024 * 1024


def _parse(path: Path) -> dict[str, Any]:
    """The file's content, checked: a declar history of numbered epochs and equally long curves."""
    if path.stat().st_size > MAX_HISTORY_BYTES:
        raise PlotError(f"{path}: over {MAX_HISTORY_BYTES:,} bytes; not a training history", file=os.fspath(path))
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise PlotError(f"{path}: cannot read the history: {err}", file=os.fspath(path)) from err
    ok = isinstance(content, dict) and content.get(FORMAT_KEY) == FORMAT and isinstance(content.get("epoch"), list) \
        and isinstance(content.get("metrics"), dict) and all(isinstance(e, int) for e in content["epoch"]) and all(
            isinstance(v, list) and len(v) == len(content["epoch"])
            and all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in v)
            for v in content["metrics"].values())
    if not ok:
        raise PlotError(f"{path}: not a declar training history (written by declar fit as *{HISTORY_SUFFIX})",
                        file=os.fspath(path))
    return content


def read_history(path: str | os.PathLike[str]) -> dict[str, list[float | None]]:
    """The curves of a history file, or of the history next to an archive: metric -> one value per
    epoch (None where it was not finite); the epochs themselves under ``"epoch"``."""
    target = Path(path)
    if target.name.endswith(".keras"):
        target = history_path(target)
        if not target.is_file():
            raise PlotError(f"{path}: no history next to it ({target.name}); declar fit writes one when it trains",
                            file=os.fspath(path))
    if not target.is_file():
        raise PlotError(f"{target}: no such history file", file=os.fspath(target))
    content = _parse(target)
    return {"epoch": content["epoch"], **content["metrics"]}
