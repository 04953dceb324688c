"""`declar export`: a spec or archive as a serving artifact, checked in its own runtime.

One step per module:

- `formats`: the table of formats (SavedModel, ONNX, LiteRT): file names, the packages each
  needs (its extra), the runtime that checks it and the tolerance it is held to.
- `refusals`: what a format cannot express, located in the spec (a random draw; an op the
  converter lacks, found in its error text and traced back to the layer that uses it).
- `convert`: Keras's own exporters (``model.export``), with the settings declar chooses.
- `runtime_worker`: the fresh process that loads an artifact in its runtime (without declar)
  and runs it on fixed inputs.
- `check`: the seeded inputs, the worker run and the comparison with Keras's predictions.
- `run`: the whole job: build or load, refuse, convert, check, write atomically with the
  versions next to the artifact.

Example:
    >>> from declar.exporting import FORMATS
    >>> sorted(FORMATS)
    ['litert', 'onnx', 'saved_model']
"""

from declar.exporting.formats import FORMATS, ExportFormat
from declar.exporting.run import ExportReport, export

__all__ = ["FORMATS", "ExportFormat", "ExportReport", "export"]
