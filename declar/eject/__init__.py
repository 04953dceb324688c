"""`declar eject`: a spec as a readable, self-contained Python module that builds the same model.

The module (keras, keras.ops, one function per block, each custom type a `keras.layers.Layer`
subclass with its saving hooks written out) is generated from the checked spec: expressions from
their checked trees (`declar.eject.expr`), names mapped to identifiers (`declar.eject.names`),
values written as Python literals. No text of the spec is pasted into code. A construct the
module cannot express yet is refused with a located `EjectError`.

Example:
    >>> import declar.eject
    >>> source = declar.eject.eject("specs/keras_guide/custom_build.yaml")
    >>> "def build_model()" in source
    True
"""

from __future__ import annotations

from declar.eject.module import EjectError, eject, eject_spec

__all__ = ["EjectError", "eject", "eject_spec"]
