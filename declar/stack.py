"""Stack for deep graphs: Keras's graph walks recurse once per layer, so a long chain of layers
needs more Python frames than the default recursion limit (1,000) allows.

`deep_graph` runs a function that builds a model of ``n`` layers with room for ``n`` nested
frames. A shallow model (the common case) runs in the caller's thread exactly as before; a deep one
runs in a worker thread with a large stack, the process's recursion limit raised for as long as it
runs, and the caller's state carried over: the `contextvars` (declar's limits), Keras's per-thread
global state (safe mode, custom objects, dtype policy, distribution, name scopes) and TensorFlow's
distribution strategy and device scopes. The caller waits; the result or exception comes back to it.

Imports neither Keras nor TensorFlow (it only uses them when they are already imported).

Example:
    >>> def nest(n: int) -> int:  # recurses once per "layer", as Keras's graph walk does
    ...     return 0 if n == 0 else 1 + nest(n - 1)
    >>> deep_nest = deep_graph(lambda n: n)(nest)
    >>> deep_nest(5_000)
    5000
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

FRAMES_PER_LAYER = 2
"""Frames to allow per layer. Keras 3.8-3.12 need one (`Function._build_map_helper` recurses once
per node on the longest path; measured: 1,011 extra frames for a 1,000-layer chain); the second is
margin for another Keras version's walk."""
FRAMES_MARGIN = 500
"""Frames for everything around the walk: declar, Keras's saving code, the caller's own stack."""
STACK_BYTES_PER_FRAME = 8_192
"""C stack per frame in the worker; Python 3.11+ runs Python-to-Python calls without C recursion,
3.10 uses about 1-2 KB for each."""
MIN_STACK_BYTES = 64 << 20
MAX_STACK_BYTES = 1 << 30
"""The worker's stack is reserved, not committed: untouched pages cost no memory."""

_lock = threading.Lock()
_raised = 0  # deep calls running (the recursion limit is process-wide: restored when the last ends)
_saved_limit = 0
_worker = threading.local()  # .frames: the frames the current worker thread was started for


def frames_needed(layers: int) -> int:
    """Frames of recursion a model of ``layers`` layers may need on top of the caller's stack."""
    return FRAMES_PER_LAYER * max(layers, 0) + FRAMES_MARGIN


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def run_deep(layers: int, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, with enough stack and recursion limit for a graph of ``layers`` layers.

    Example:
        >>> run_deep(10, sum, [1, 2, 3])
        6
    """
    needed = frames_needed(layers)
    if _depth() + needed <= sys.getrecursionlimit() or getattr(_worker, "frames", 0) >= needed:
        return fn(*args, **kwargs)  # enough room here (or already in a worker started for this depth)
    return _in_worker(needed, fn, args, kwargs)


def deep_graph(layers: Callable[..., int]) -> Callable[[F], F]:
    """Decorate a function that builds a graph of ``layers(*args, **kwargs)`` layers (see `run_deep`).

    Example:
        >>> @deep_graph(lambda items: len(items))
        ... def count(items: list[int]) -> int:
        ...     return len(items)
        >>> count([1, 2])
        2
    """
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return run_deep(layers(*args, **kwargs), fn, *args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


@contextlib.contextmanager
def _recursion_limit(frames: int) -> Iterator[None]:
    """Raise the process-wide recursion limit to at least ``frames`` while any deep call runs.

    Other threads see the raised limit too (Python has no per-thread limit); the original value is
    put back when the last concurrent deep call ends, so nested and concurrent calls are safe.
    """
    global _raised, _saved_limit
    with _lock:
        if _raised == 0:
            _saved_limit = sys.getrecursionlimit()
        _raised += 1
        if sys.getrecursionlimit() < frames:
            sys.setrecursionlimit(frames)
    try:
        yield
    finally:
        with _lock:
            _raised -= 1
            if _raised == 0:
                sys.setrecursionlimit(_saved_limit)


def _in_worker(frames: int, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    context = contextvars.copy_context()  # declar's limits and hint budget are ContextVars
    carried = _CarriedState.capture()
    outcome: dict[str, Any] = {}

    def work() -> None:
        _worker.frames = frames
        try:
            with carried.entered():
                outcome["value"] = context.run(fn, *args, **kwargs)
        except BaseException as err:  # handed to the caller, which re-raises it
            outcome["error"] = err
        finally:
            carried.finish()

    stack = min(max(MIN_STACK_BYTES, frames * STACK_BYTES_PER_FRAME), MAX_STACK_BYTES)
    with _recursion_limit(frames + _depth()):
        thread = threading.Thread(target=work, name="declar-deep-graph", daemon=True)
        with _lock:  # the stack size is process-wide too: set it only for this thread's creation
            previous = threading.stack_size(stack)
            try:
                thread.start()
            finally:
                threading.stack_size(previous)
        thread.join()
    carried.restore()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class _CarriedState:
    """The caller thread's Keras and TensorFlow state, re-entered in the worker thread.

    Keras keeps its global state (`safe_mode`, custom objects, dtype policy, distribution, name
    uids) in a `threading.local`: without this, `keras.models.load_model(..., safe_mode=True)`
    would build the model in a thread where safe mode is unset. Keys the worker adds (name counters
    created lazily) are copied back, so names stay unique across both threads.
    """

    def __init__(self, keras_state: dict[str, Any] | None, strategy: Any, device: str | None):
        self.keras_state = keras_state
        self.strategy = strategy
        self.device = device
        self.added: dict[str, Any] = {}

    @classmethod
    def capture(cls) -> _CarriedState:
        keras_state = strategy = device = None
        if "keras" in sys.modules:
            from keras.src.backend.common import global_state

            keras_state = dict(vars(global_state.GLOBAL_STATE_TRACKER))
        tf = sys.modules.get("tensorflow")
        if tf is not None:
            with contextlib.suppress(Exception):  # private TF API: degrade to the default device
                if tf.distribute.has_strategy():
                    strategy = tf.distribute.get_strategy()
                from tensorflow.python.eager import context as eager

                device = eager.context().device_name if tf.executing_eagerly() else None
        return cls(keras_state, strategy, device)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        if self.keras_state is not None:
            from keras.src.backend.common import global_state

            vars(global_state.GLOBAL_STATE_TRACKER).update(self.keras_state)
        with contextlib.ExitStack() as stack:
            if self.strategy is not None:
                stack.enter_context(self.strategy.scope())
            if self.device and self.strategy is None:  # a strategy places its own variables
                import tensorflow as tf

                stack.enter_context(tf.device(self.device))
            yield

    def finish(self) -> None:
        """In the worker: note the Keras state keys it created."""
        if self.keras_state is not None:
            from keras.src.backend.common import global_state

            self.added = {k: v for k, v in vars(global_state.GLOBAL_STATE_TRACKER).items() if k not in self.keras_state}

    def restore(self) -> None:
        """In the caller: take over the keys the worker created (the shared ones were shared)."""
        if self.added:
            from keras.src.backend.common import global_state

            tracker = vars(global_state.GLOBAL_STATE_TRACKER)
            for key, value in self.added.items():
                tracker.setdefault(key, value)


__all__ = ["deep_graph", "frames_needed", "run_deep"]
