"""Keras's own exporters (``model.export``) with the settings declar chooses, and their versions.

- SavedModel: Keras's `ExportArchive`, inference endpoint ``serve`` and ``serving_default``.
- ONNX: tf2onnx on the model's inference function (Keras's TensorFlow route), at tf2onnx's
  default opset. tf2onnx does not fail on a TensorFlow op it cannot map: it leaves the op in the
  graph, where no ONNX runtime can run it; `unknown_onnx_nodes` finds such nodes.
- LiteRT: the TFLite converter restricted to LiteRT's builtin operators. Keras also allows
  TensorFlow's "Select" ops, which need the Flex delegate that neither the LiteRT interpreter nor
  TensorFlow's pip package includes, so such an artifact would not run where LiteRT runs; with
  builtins only, the converter lowers what it can (the loops of recurrent layers) and names
  what it cannot.

Converters write pages of diagnostics to the process's standard streams; they are captured and
only the failure's text is kept (it is parsed for the op and the layer).

Example:
    >>> import declar, tempfile, os, numpy as np
    >>> model = declar.build("specs/keras_guide/custom_build.yaml", compile=False)
    >>> model(np.zeros((1, 8), "float32"))  # the exporters want a model that has been called  # doctest: +ELLIPSIS
    <tf.Tensor: shape=(1, 1), ...>
    >>> sorted(convert(model, FORMATS["litert"], os.path.join(tempfile.mkdtemp(), "m.tflite")))
    ['keras', 'tensorflow']
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from declar.exporting.formats import FORMATS, ExportFormat


class ConversionFailed(Exception):
    """The converter refused the model; ``text`` is its message and what it printed."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


@contextlib.contextmanager
def _captured_output() -> Iterator[list[str]]:
    """File descriptors 1 and 2 captured for the block; their text is put in the yielded list."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except (OSError, ValueError):  # no real descriptors (a test runner's streams): nothing to capture
        yield []
        return
    text: list[str] = []
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 1)
        os.dup2(captured.fileno(), 2)
        try:
            yield text
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)
            captured.seek(0)
            text.append(captured.read().decode(errors="replace"))


def convert(model: Any, fmt: ExportFormat, path: str, batch_size: int | None = None) -> dict[str, Any]:
    """Write ``model``'s inference as ``fmt`` at ``path``; the converter's versions (and opset).

    The batch dimension stays dynamic unless ``batch_size`` fixes it (which LiteRT's builtins need
    for the loop of a recurrent layer). Raises `ConversionFailed` when the converter refuses the model.
    """
    import keras
    import tensorflow as tf

    options: dict[str, Any] = {}
    if batch_size is not None:
        specs = [tf.TensorSpec((batch_size, *t.shape[1:]), t.dtype, name=t.name) for t in model.inputs]
        options["input_signature"] = [specs] if len(specs) > 1 else specs  # Keras's form: one list argument
    if fmt.name == "litert":
        options["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    with _captured_output() as printed:
        try:
            model.export(path, format=fmt.keras_format, verbose=False, **options)
            failure = None
        except Exception as err:  # every converter error means "this format cannot express the model"
            failure = f"{type(err).__name__}: {err}"
    if failure is not None:
        raise ConversionFailed(failure + "\n" + "".join(printed))
    versions: dict[str, Any] = {"keras": keras.__version__, "tensorflow": tf.__version__}
    if fmt.name == "onnx":
        import onnx

        versions.update(tf2onnx=importlib.metadata.version("tf2onnx"), onnx=onnx.__version__,
                        opset=onnx_opset(path))
    return versions


def onnx_opset(path: str) -> int:
    """The default-domain opset an ONNX file is written for."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    return next(int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx"))


def unknown_onnx_nodes(path: str) -> list[tuple[str, str]]:
    """(node name, op type) of each node of the ONNX file that is no operator of its domain."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    versions = {o.domain or "": int(o.version) for o in model.opset_import}
    found = []
    for node in model.graph.node:
        domain = node.domain or ""
        if domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, versions.get(domain, 0), domain):
            found.append((node.name, node.op_type))
    return found


__all__ = ["FORMATS", "ConversionFailed", "convert", "onnx_opset", "unknown_onnx_nodes"]
