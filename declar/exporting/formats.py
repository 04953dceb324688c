"""The export formats: what each writes, what it needs installed, and what checks it.

Each format names the Python modules its conversion and its runtime need; a missing one is an
`ExportError` naming the extra that installs it (``pip install 'declar[onnx]'``), before any
work is done. Tolerances are per format and were measured on every spec under specs/ (the
largest differences seen are in the README): a SavedModel runs TensorFlow's own kernels, so it
is held close to exact; ONNX Runtime and LiteRT reorder and fuse float32 arithmetic.

Example:
    >>> FORMATS["onnx"].extra, FORMATS["onnx"].atol
    ('onnx', 1e-05)
"""

from __future__ import annotations

import importlib.machinery
from dataclasses import dataclass

from declar.errors import ExportError


@dataclass(frozen=True)
class ExportFormat:
    """One serving format: how Keras names it, what it needs, how it is checked."""

    name: str
    title: str
    keras_format: str
    """``model.export``'s name for it."""
    suffix: str
    """What a temporary artifact's name must end with (Keras's LiteRT exporter insists on .tflite)."""
    needs: tuple[tuple[str, str], ...]
    """(module, package) pairs the conversion and the runtime import."""
    extra: str
    """The extra of declar that installs ``needs`` (``declar[onnx]``)."""
    runtime: str
    """What loads the artifact in the fresh process."""
    atol: float
    rtol: float

    def missing(self) -> list[str]:
        """The packages of ``needs`` that are not installed.

        Looked up on sys.path alone (`PathFinder`), not through ``sys.meta_path``, where the
        command line's filter of TensorFlow's start-up messages waits for TensorFlow's import.
        """
        return [package for module, package in self.needs if importlib.machinery.PathFinder.find_spec(module) is None]

    def require(self) -> None:
        """`ExportError` (code ``missing-extra``) naming the extra, when a package it needs is missing.

        Example:
            >>> FORMATS["saved_model"].require()  # TensorFlow is installed here
        """
        missing = self.missing()
        if missing:
            names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
            verb = "is" if len(missing) == 1 else "are"
            raise ExportError(f"exporting to {self.title} needs {names}, which {verb} not installed: "
                              f"pip install 'declar[{self.extra}]'", code="missing-extra")


TENSORFLOW = ("tensorflow", "tensorflow")

FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("saved_model", "SavedModel", "tf_saved_model", "", (TENSORFLOW,), "tensorflow",
                 "TensorFlow's SavedModel loader", atol=1e-6, rtol=1e-6),
    ExportFormat("onnx", "ONNX", "onnx", ".onnx",
                 (TENSORFLOW, ("onnx", "onnx"), ("tf2onnx", "tf2onnx"), ("onnxruntime", "onnxruntime")), "onnx",
                 "ONNX Runtime", atol=1e-5, rtol=1e-5),
    ExportFormat("litert", "LiteRT", "litert", ".tflite", (TENSORFLOW, ("ai_edge_litert", "ai-edge-litert")),
                 "litert", "the LiteRT interpreter", atol=1e-5, rtol=1e-5),
)}
"""The formats by the name ``--format`` takes."""

__all__ = ["FORMATS", "ExportFormat"]
