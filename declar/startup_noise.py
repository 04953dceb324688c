"""Keeping TensorFlow's start-up chatter out of declar's commands, and nothing else.

TensorFlow 2.16+ logs through absl before it reads ``TF_CPP_MIN_LOG_LEVEL``: every process that
imports it writes "All log messages before absl::InitializeLog() ...", "Could not find cuda
drivers ...", "oneDNN custom operations are on ..." and the CPU feature banner straight to file
descriptor 2, where no Python setting reaches. So the command line captures that descriptor while
TensorFlow is imported and its devices are first listed (where CUDA is probed), then writes back
every captured line that is not one of these known start-up messages: a real warning or error
still reaches the user. The library never does this: `import declar` leaves a user's stderr alone.

Example:
    >>> [line for line in ["I0000 00:00:1 12 cudart_stub.cc:31] Could not find cuda drivers", "real"]
    ...  if not is_startup_noise(line)]
    ['real']
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from importlib.util import find_spec
from types import ModuleType
from typing import Any

# Each pattern is one message TensorFlow or XLA prints on every start on a machine without a GPU;
# they say nothing about the user's model.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|cuda_diagnostics\.cc|cuda_dnn\.cc|cuda_fft\.cc"
    r"|cuda_blas\.cc|Unable to register cu(DNN|FFT|BLAS) factory|computation_placer\.cc"
    r"|oneDNN custom operations are on|cpu_feature_guard\.cc|To enable the following instructions:"
    r"|TF-TRT Warning: Could not find TensorRT|failed call to cuInit|Could not find cuda drivers"
)


def is_startup_noise(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's start-up messages (not a warning about the user's work)."""
    return bool(STARTUP_NOISE.search(line))


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Capture file descriptor 2 for the block, then write back what is not start-up noise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor (a test runner's stream): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not is_startup_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietLoader:
    """Runs TensorFlow's import (and its first device listing) inside `filtered_stderr`."""

    def __init__(self, wrapped: Any):
        self.wrapped = wrapped

    def create_module(self, spec: Any) -> ModuleType | None:
        return self.wrapped.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with filtered_stderr():
            self.wrapped.exec_module(module)  # type: ignore[attr-defined]
            with contextlib.suppress(Exception):  # CUDA is probed here: its failure is more noise
                module.config.list_physical_devices()


class _QuietFinder:
    """A meta path finder for ``tensorflow`` alone, removed once it has found it."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def silence_framework_startup() -> None:
    """Filter TensorFlow's start-up messages when (and if) it is imported later in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # what older TensorFlow versions do read
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
