"""Writes the small data sets the README's training examples use, in the current directory:

- ``heart.npz``: heart-disease-like columns named after the inputs and the output of
  examples/adapted/structured_data.yaml (keras.io's structured-data example), 303 rows;
- ``reviews/``: short made-up film reviews, one subdirectory per class (``neg/``, ``pos/``), for
  examples/adapted/text_classification.yaml (keras.io's text classification from scratch).

Run: ``python docs/examples/training_data.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

POSITIVE = "great wonderful superb loved enjoyed brilliant".split()
NEGATIVE = "awful boring terrible hated dull poor".split()
COMMON = "the film was a and it story acting".split()


def heart(rows: int = 303, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"age": rng.normal(54, 9, (rows, 1)).astype("float32"),
            "thalach": rng.normal(150, 22, (rows, 1)).astype("float32"),
            "oldpeak": rng.exponential(1.0, (rows, 1)).astype("float32"),
            "cp": rng.integers(0, 4, (rows, 1)).astype("int64"),
            "target": rng.integers(0, 2, (rows, 1)).astype("float32")}


def reviews(root: Path, per_class: int = 20, seed: int = 0) -> list[tuple[str, int]]:
    """Writes ``neg/`` and ``pos/`` under ``root``; returns the (text, label) pairs written."""
    rng = np.random.default_rng(seed)
    written = []
    for label, (name, words) in enumerate((("neg", NEGATIVE), ("pos", POSITIVE))):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            tokens = [*rng.choice(words, 3), *rng.choice(COMMON, 4)]
            rng.shuffle(tokens)
            text = " ".join(tokens).capitalize() + "."
            (root / name / f"{i:02d}.txt").write_text(text)
            written.append((text, label))
    return written


if __name__ == "__main__":
    np.savez("heart.npz", **heart())
    count = len(reviews(Path("reviews")))
    print(f"wrote heart.npz (303 rows) and reviews/ ({count} files in neg/ and pos/)")
