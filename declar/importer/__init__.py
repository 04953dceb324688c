"""`declar import`: existing Keras models (a .keras file or a model object) become specs.

`import_model` is the one entry point (``declar.import_model``, the CLI's ``declar import``);
`declar.importer.config` reads and surveys a model's config without Keras, `convert` turns it
into spec data, `emit` writes it as YAML, `check` is the fresh-process comparison.

Example:
    >>> from declar.importer.config import survey
    >>> survey({"class_name": "Sequential", "module": "keras", "config": {"layers": []}}).refused
    []
"""

from __future__ import annotations

from declar.errors import ImportRefused
from declar.importer.run import ImportReport, import_model

__all__ = ["ImportRefused", "ImportReport", "import_model"]
