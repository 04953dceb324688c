"""Registering declar's Keras classes when keras is imported, without importing it ourselves.

`import declar; keras.models.load_model(path)` must find declar's registered classes, yet
`import declar` must not import keras (validation stays fast). So `import declar` registers the
classes at once if keras is already loaded, and otherwise adds an import hook that registers them
right after the ``keras`` package finishes importing.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_registered = False


def register() -> None:
    """Import declar.keras's modules (their decorators register the classes with Keras) and install
    the weight budget's guard on `keras.layers.Layer.add_weight` (see declar.keras.budget)."""
    global _registered
    with _lock:
        if _registered:
            return
        _registered = True
    import declar.keras.budget  # installs the guard on import, before any layer can be built
    import declar.keras.compile
    import declar.keras.layer
    import declar.keras.model  # noqa: F401


class _AfterKerasLoader:
    """Wraps keras's own loader; a loader needs only these two methods (no ABC, for import speed)."""

    def __init__(self, wrapped: Any):
        self.wrapped = wrapped

    def create_module(self, spec: Any) -> ModuleType | None:
        return self.wrapped.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.wrapped.exec_module(module)  # type: ignore[attr-defined]
        register()


class _KerasFinder:
    """A meta path finder (find_spec is all the import system asks of one)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)  # find the real spec, once
        from importlib.util import find_spec

        spec = find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _AfterKerasLoader(spec.loader)
        return spec


def install() -> None:
    """Register now if keras is loaded, else when it is."""
    if "keras" in sys.modules:
        register()
    elif not any(isinstance(f, _KerasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasFinder())
