"""Reading untrusted files within limits: regular files only, sizes checked before reading.

Asset files (of a spec, or extracted from an archive), archive members and data files come from
strangers. Every read here checks the size first, on the opened descriptor (so a file swapped
after the check is still caught), refuses what is not a regular file (a FIFO would hang, a device
like /dev/zero never ends), and reads at most the limit plus one byte, so a file that grows while
it is read is refused too. A `.npy` array's header declares its shape and dtype; the size they make
is checked before NumPy allocates the array.

Example:
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "words.txt"), "w") as f:
    ...     _ = f.write("a b c")
    >>> read_file(os.path.join(d, "words.txt"), limit=100, limit_name="max_asset_bytes", what="asset 'words'")
    b'a b c'
    >>> read_file(os.path.join(d, "words.txt"), limit=3, limit_name="max_asset_bytes", what="asset 'words'")
    Traceback (most recent call last):
    ...
    declar.errors.FileLimitError: asset 'words' is 5 bytes, over Limits.max_asset_bytes = 3; raise it if this is \
intended
"""

from __future__ import annotations

import math
import os
import stat
from typing import IO, Any

from declar.errors import FileLimitError

CHUNK = 1 << 20


def over_limit(what: str, size: int, limit: int, limit_name: str, unit: str = "bytes") -> FileLimitError:
    """The one wording of a size refusal: what, how large, which limit to raise."""
    return FileLimitError(f"{what} is {size:,} {unit}, over Limits.{limit_name} = {limit:,}; raise it if this is "
                          "intended")


def open_regular(path: str, *, limit: int, limit_name: str, what: str, root: str | None = None) -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file of at most ``limit`` bytes (inside ``root``).

    With ``root``, the path with every symbolic link resolved must stay inside ``root`` (itself
    resolved): a link inside the directory to a file inside it is fine, a link out is not.
    """
    full = path
    if root is not None:
        real_root = os.path.realpath(root)
        full = os.path.realpath(os.path.join(real_root, path))
        if os.path.commonpath([real_root, full]) != real_root:
            raise FileLimitError(f"{what}: '{path}' resolves outside {real_root} (symbolic link?)")
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below); O_NOFOLLOW:
    # the resolved path has no link left, so a link appearing there now is a swap and is refused.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if root is not None:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(full, flags)
    except OSError as err:
        raise FileLimitError(f"{what}: cannot open '{path}': {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileLimitError(f"{what}: '{path}' is not a regular file (a FIFO, device or directory is never read)")
        if info.st_size > limit:
            raise over_limit(what, info.st_size, limit, limit_name)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(f: IO[bytes], *, limit: int, limit_name: str, what: str) -> bytes:
    """At most ``limit`` bytes of ``f``; refused, not truncated, if there are more."""
    data = f.read(limit + 1)
    if len(data) > limit:
        raise FileLimitError(f"{what} is over Limits.{limit_name} = {limit:,} bytes; raise it if this is intended")
    return data


def read_file(path: str, *, limit: int, limit_name: str, what: str, root: str | None = None) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes (see `open_regular`)."""
    with open_regular(path, limit=limit, limit_name=limit_name, what=what, root=root) as f:
        return read_limited(f, limit=limit, limit_name=limit_name, what=what)


def copy_limited(src: IO[bytes], dst: IO[bytes], *, limit: int, limit_name: str, what: str) -> int:
    """Stream ``src`` into ``dst`` in chunks (never whole in memory), refusing more than ``limit`` bytes."""
    copied = 0
    while chunk := src.read(min(CHUNK, limit + 1 - copied)):
        copied += len(chunk)
        if copied > limit:
            raise FileLimitError(f"{what} is over Limits.{limit_name} = {limit:,} bytes; raise it if this is "
                                 "intended")
        dst.write(chunk)
    return copied


def npy_header(f: IO[bytes], what: str) -> tuple[tuple[int, ...], Any, bool]:
    """Shape, dtype and Fortran order from a `.npy` header, read without reading the array."""
    import numpy as np
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy.read_array_header_2_0(f)  # 3.0 differs only in the header's encoding
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as err:
        raise FileLimitError(f"{what}: not a readable .npy array ({err})") from None
    if dtype.hasobject:
        raise FileLimitError(f"{what}: holds Python objects (dtype {dtype}), which are never unpickled")
    if not isinstance(dtype, np.dtype) or dtype.fields is not None or dtype.subdtype is not None:
        raise FileLimitError(f"{what}: has a structured dtype ({dtype}); give a plain numeric array")
    return tuple(shape), dtype, fortran


def read_npy(f: IO[bytes], *, available: int, limit: int, limit_name: str, what: str) -> Any:
    """A `.npy` array whose declared size is checked (against ``limit`` and against the ``available``
    bytes after the header) before NumPy allocates it."""
    from numpy.lib import format as npy

    start = f.tell()
    shape, dtype, _ = npy_header(f, what)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > limit:
        raise over_limit(f"{what} (shape {list(shape)}, {dtype})", nbytes, limit, limit_name)
    stored = available - (f.tell() - start)
    if nbytes > stored:
        raise FileLimitError(f"{what}: its header declares {nbytes:,} bytes of data but only {max(stored, 0):,} "
                             "follow (truncated or forged)")
    f.seek(start)
    try:
        return npy.read_array(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise FileLimitError(f"{what}: not a readable .npy array ({err})") from None


def transform_text(text: str, size: int, transform: Any, limit: int, what: str) -> str:
    """Apply a text asset's transform (``replace`` pairs in order, ``strip``) to ``text`` of ``size``
    UTF-8 bytes; each result's size is computed, and checked against ``limit``, before it is built
    (a short text whose every character is replaced by a long string would otherwise multiply).

    Example:
        >>> transform_text("a <unk> b", 9, [("replace", {"<unk>": "x"})], 100, "asset 'v'")
        'a x b'
    """
    for key, value in transform:
        if key == "replace":
            for old, new in value.items():
                # str.replace changes every non-overlapping occurrence (with "" between every
                # character, which count also counts), so the new size is exact.
                size += text.count(old) * (len(new.encode("utf-8")) - len(old.encode("utf-8")))
                if size > limit:
                    raise over_limit(f"{what} after replacing {old[:40]!r} by {new[:40]!r}", size, limit,
                                     "max_asset_bytes")
                text = text.replace(old, new)
        elif key == "strip" and value:
            text = text.strip()
            size = len(text.encode("utf-8"))
    return text


__all__ = ["FileLimitError", "copy_limited", "npy_header", "open_regular", "over_limit", "read_file",
           "read_limited", "read_npy", "transform_text"]
