"""Directories of examples, one subdirectory per class (Keras's ``*_dataset_from_directory`` layout),
listed within limits before Keras reads them.

Keras's utilities (`keras.utils.image_dataset_from_directory`, `text_dataset_from_directory`) list a
directory and read every file whose extension they know. A directory comes from anywhere, so
`scan_directory` lists it first, without reading a file: at most `Limits.max_data_files` entries
(counting stops there), every entry a regular file or a directory (a FIFO would hang the reader, a
device never ends), no symbolic link that leads out of the directory (a link to ``/etc/shadow``
would become training data) or to a directory (Keras does not follow those: its files would be
silently left out), and the files together within `Limits.max_data_bytes`. Keras then opens the same
paths: a directory changed between the listing and the reading is not defended against (it is the
user's own directory).

Example:
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> for name in ("cat/1.png", "dog/2.png"):
    ...     os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
    ...     open(os.path.join(d, name), "wb").close()
    >>> listing = scan_directory(d)
    >>> listing.classes, [f.relpath for f in listing.files]
    (('cat', 'dog'), ['cat/1.png', 'dog/2.png'])
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from declar.errors import DataError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.training_data.signature import Signature, shape_text

if TYPE_CHECKING:
    import keras

    from declar.training_data.fit_data import FitData, ReadOptions


@dataclass(frozen=True)
class ListedFile:
    """One regular file of a class subdirectory."""

    relpath: str
    """Its path from the directory, with ``/`` separators."""
    label: str
    """Its class: the name of the subdirectory of the top directory it lies in."""
    extension: str
    """Its extension, lowercased, with the dot: ``.png``."""
    size: int


@dataclass(frozen=True)
class Listing:
    """A data directory as `scan_directory` found it: the classes (sorted, as Keras orders them)
    and the files under them."""

    root: str
    classes: tuple[str, ...]
    files: tuple[ListedFile, ...]

    def extensions(self) -> set[str]:
        return {f.extension for f in self.files}


@dataclass(frozen=True)
class DirectorySource:
    """A kind of data directory: the extensions of the files it reads, and how it opens a listing."""

    name: str
    """What it holds, in messages: ``images``, ``text files``."""
    extensions: frozenset[str]
    open: Callable[[Listing, keras.Model, Limits, ReadOptions], FitData]


def scan_directory(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> Listing:
    """List the class subdirectories of ``path`` and their files, within ``limits``, reading no file.

    Raises `DataError` naming the directory, the entry and what to change.
    """
    shown = os.fspath(path)
    root = os.path.realpath(shown)
    count = 0
    total = 0
    classes: list[str] = []
    files: list[ListedFile] = []
    pending: list[tuple[str, str]] = [("", "")]  # (path from the root, class); iterative: no recursion limit
    while pending:
        rel, label = pending.pop()
        try:
            with os.scandir(os.path.join(root, rel)) as entries:
                for entry in entries:
                    count += 1
                    if count > limits.max_data_files:
                        raise DataError(f"{shown}: more than Limits.max_data_files = {limits.max_data_files:,} files "
                                        "and directories (counting stopped there, before any was read); raise it if "
                                        "this is intended", file=shown)
                    if not rel and entry.name.startswith("."):
                        continue  # a hidden top-level entry (.git, .ipynb_checkpoints) is no class: Keras skips it
                    entry_rel = f"{rel}/{entry.name}" if rel else entry.name
                    kind = _kind(entry, root, entry_rel, shown)
                    if kind == "dir":
                        if not rel:
                            classes.append(entry.name)
                        pending.append((entry_rel, label or entry.name))
                    elif rel:  # files directly in the top directory have no class: Keras skips them
                        size = entry.stat(follow_symlinks=True).st_size
                        total += size
                        if total > limits.max_data_bytes:
                            raise DataError(f"{shown}: its files are {total:,} bytes or more, over "
                                            f"Limits.max_data_bytes = {limits.max_data_bytes:,}; raise it if this is "
                                            "intended (checked before reading)", file=shown)
                        files.append(ListedFile(entry_rel, label, os.path.splitext(entry.name)[1].lower(), size))
        except OSError as err:
            raise DataError(f"{shown}: cannot list '{rel or '.'}': {err.strerror or err}", file=shown) from None
    if not classes:
        raise DataError(f"{shown}: no class subdirectories; put each class's examples in a subdirectory named after "
                        "it (e.g. cat/, dog/)", file=shown)
    return Listing(shown, tuple(sorted(classes)), tuple(sorted(files, key=lambda f: f.relpath)))


def _kind(entry: os.DirEntry[str], root: str, rel: str, shown: str) -> str:
    """``dir`` or ``file``; anything else (and any link out of ``root``) is refused."""
    if entry.is_symlink():
        target = os.path.realpath(os.path.join(root, rel))
        if os.path.commonpath([root, target]) != root:
            raise DataError(f"{shown}: '{rel}' is a symbolic link that leads out of the directory (to {target}); "
                            "copy the file in instead", file=shown)
        if os.path.isdir(target):
            raise DataError(f"{shown}: '{rel}' is a symbolic link to a directory, which Keras does not follow; "
                            "move the directory in instead", file=shown)
        if not os.path.exists(target):
            raise DataError(f"{shown}: '{rel}' is a broken symbolic link; remove it", file=shown)
    mode = entry.stat(follow_symlinks=True).st_mode
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    raise DataError(f"{shown}: '{rel}' is not a regular file (a FIFO, socket or device is never read); remove it",
                    file=shown)


def label_mode(signature: Signature, listing: Listing, one_hot: bool) -> str:
    """Keras's ``label_mode`` for a model with one output, checked against the listing's classes:
    ``binary`` for an output of one value and two classes, ``categorical`` (one-hot, when
    ``one_hot``: the loss is not a sparse one) or ``int`` for an output of one value per class.

    Raises `DataError` when the classes do not fit the output.
    """
    shown = listing.root
    if len(signature.outputs) != 1:
        raise DataError(f"{shown}: a directory of classes labels one output; the model has "
                        f"{len(signature.outputs)} ({', '.join(signature.output_names)}); use an .npz file",
                        file=shown)
    out = signature.outputs[0]
    classes = ", ".join(listing.classes)
    if out.shape in ((), (1,)):
        if len(listing.classes) != 2:
            raise DataError(f"{shown}: {len(listing.classes)} classes ({classes}) for output '{out.name}' of one value "
                            f"(shape {shape_text(out.shape)}), which takes two classes; give it one unit per class "
                            "or keep two subdirectories", file=shown)
        return "binary"
    if len(out.shape) != 1 or out.shape[0] != len(listing.classes):
        raise DataError(f"{shown}: {len(listing.classes)} classes ({classes}) for output '{out.name}' of shape "
                        f"{shape_text(out.shape)}; it needs one value per class, shape [{len(listing.classes)}]",
                        file=shown)
    return "categorical" if one_hot else "int"


def wants_one_hot(model: keras.Model, output: str | None = None) -> bool:
    """Whether the loss of ``output`` (of the model's one output, when None) takes one-hot targets:
    a categorical loss that is not a sparse one.

    Example:
        >>> import declar
        >>> wants_one_hot(declar.build("specs/examples/two_input_residual.yaml"), "topic")
        True
    """
    loss = model.loss
    if isinstance(loss, Mapping):  # per output (Keras keeps it as a trackable DictWrapper)
        loss = loss.get(output) if output is not None else next(iter(loss.values()), None) if len(loss) == 1 else None
    elif isinstance(loss, Sequence) and not isinstance(loss, str):
        names = list(model.declar_spec.output_names)
        loss = loss[names.index(output)] if output in names and len(loss) == len(names) else None
    name = loss if isinstance(loss, str) else getattr(loss, "name", "") or type(loss).__name__
    name = str(name).lower()
    return "categorical" in name and "sparse" not in name
