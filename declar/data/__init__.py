"""Data files shipped with declar: the JSON Schemas and the catalog of Keras's names.

They are read from this directory directly (not through importlib.resources, whose import costs
more than `declar validate` can spare); declar is never installed zipped.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
