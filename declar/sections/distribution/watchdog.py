"""A bound on joining a cluster: a small process that ends its parent if the peers never come.

TensorFlow waits for its peers inside C++ while holding Python's lock, so neither a signal
handler nor a thread of the waiting process can run; a second process can. `arm` starts
``python -m declar.sections.distribution.watchdog PID SECONDS`` with a pipe on its standard input.
The parent closes the pipe when the cluster has formed (`Watchdog.disarm`), and the watchdog then
exits quietly; a parent that dies closes it too. When the time runs out first, the watchdog prints
the message and terminates the parent (SIGTERM, then SIGKILL if it does not go).

Example:
    >>> with arm(60.0, "no peers") as dog:
    ...     pass   # join the cluster here
    >>> dog.disarmed
    True
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from types import TracebackType

GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL."""


class Watchdog:
    """The running watchdog; a context manager that disarms it on exit (a failure too)."""

    def __init__(self, seconds: float, message: str) -> None:
        self.disarmed = False
        self._process = subprocess.Popen([sys.executable, "-m", __name__, str(os.getpid()), str(seconds), message],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)

    def disarm(self) -> None:
        """The cluster formed: stop the watchdog."""
        if not self.disarmed and self._process.stdin is not None:
            self._process.stdin.close()
            self._process.wait()
        self.disarmed = True

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.disarm()


def arm(seconds: float, message: str) -> Watchdog:
    """Start a watchdog that ends this process with ``message`` after ``seconds`` unless disarmed."""
    return Watchdog(seconds, message)


def _watch(parent: int, seconds: float, message: str) -> int:
    ready, _, _ = select.select([sys.stdin], [], [], seconds)
    if ready:  # the pipe closed: disarmed, or the parent is gone
        return 0
    sys.stderr.write(f"error: {message} (waited {seconds:g} s; set DECLAR_CLUSTER_TIMEOUT to wait longer)\n")
    sys.stderr.flush()
    try:
        os.kill(parent, signal.SIGTERM)
        end = time.monotonic() + GRACE
        while time.monotonic() < end:
            time.sleep(0.1)
            os.kill(parent, 0)  # raises once the parent is gone
        os.kill(parent, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(_watch(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]))
