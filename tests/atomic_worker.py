"""Worker for the kill test: overwrite TARGET with SRC through declar's atomic_save, slowly.

The stand-in model writes SRC's bytes in small chunks with pauses, so that a SIGKILL from the test
lands at every stage: before the temporary file, in the middle of it, at the fsync, at the rename.
It imports no keras, so fifty trials take seconds.
"""

import sys
import time

from declar.archive import atomic_save


class SlowModel:
    def __init__(self, source: str):
        self.source = source

    def save(self, path: str) -> None:
        with open(self.source, "rb") as src, open(path, "wb") as out:
            while chunk := src.read(4096):
                out.write(chunk)
                out.flush()
                time.sleep(0.002)


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    print("start", flush=True)
    atomic_save(SlowModel(source), target)
    print("done", flush=True)
