"""How many numbers a metric keeps as its state, from the arguments that size it: a metric is
made when the model is compiled, so an argument like ``num_thresholds: 1000000000`` must be
refused at validate, not met as a MemoryError (or the machine swapping) at the first step.

Example:
    >>> state_size("auc", {"num_thresholds": 1000})
    (4000, '4 x num_thresholds')
    >>> state_size("mean_io_u", {"num_classes": 10}), state_size("mae", {})
    ((100, 'num_classes x num_classes'), None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_THRESHOLDED = ("auc", "precision_at_recall", "recall_at_precision", "sensitivity_at_specificity",
                "specificity_at_sensitivity")
"""Metrics keeping true/false positives/negatives per threshold (Keras's default: 200 thresholds)."""

_CONFUSION = ("io_u", "mean_io_u", "one_hot_io_u", "one_hot_mean_io_u")
"""Metrics keeping a num_classes x num_classes confusion matrix."""


def _whole(value: Any, default: int) -> int:
    # Another type is the argument checks' to report; the size is then the default's.
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def state_size(name: str, args: Mapping[str, Any]) -> tuple[int, str] | None:
    """The number of values metric ``name`` made with ``args`` keeps, and how it is counted; None
    for a metric whose state does not grow with its arguments."""
    if name in _THRESHOLDED:
        thresholds = _whole(args.get("num_thresholds"), 200)
        if name == "auc" and args.get("multi_label") is True and _whole(args.get("num_labels"), 0) > 0:
            return 4 * thresholds * args["num_labels"], "4 x num_thresholds x num_labels"
        return 4 * thresholds, "4 x num_thresholds"
    if name in _CONFUSION:
        classes = _whole(args.get("num_classes"), 0)
        return classes * classes, "num_classes x num_classes"
    return None
