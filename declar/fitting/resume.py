"""Starting `declar fit` again after it was killed: from the last completed epoch, ending with the
weights, optimizer state and random state an uninterrupted run ends with.

At the end of every epoch the run writes a backup next to its output (``OUT.keras.backup/``):

- ``epoch-NNNN.weights.h5``: Keras's weights file (the model's variables and the optimizer's), the
  file Keras's own ``BackupAndRestore`` writes, but written atomically (`declar.atomic`);
- ``state.json``: the number of epochs done, the name and sha256 of that weights file, the states of
  every seed generator (Keras saves none of them: a Dropout would draw other masks after a resume),
  the history so far, and the key of the run (below). It is replaced atomically after the weights
  file is complete, so it is the commit point: a kill at any moment leaves either the previous
  state and its weights file (deleted only after the new state is in place) or the new ones.

A run started again with a backup of the same run resumes: the weights, optimizer and seed states
are loaded into the freshly built model, `model.fit` starts at the next epoch, and the history
returned holds every epoch. The key of a run is the spec's sha256, a digest of the model's state
before training (an archive resumed, adapted preprocessing), the data's digest, the fit options,
the backend and the Keras version; a backup of any other run is ignored, reported, and replaced.
The backup is removed once the output archive and history are written.

The training section's ``BackupAndRestore`` callback is not a second mechanism: it configures this
one (``backup_dir``, relative to the output's directory; ``delete_checkpoint: false`` keeps the
backup after the run). Only files this module writes are ever deleted, so a directory holding
other files keeps them.

Example:
    >>> import declar, numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> np.savez(f"{d}/data.npz", x=np.ones((8, 8), "float32"), dense_1=np.full((8, 4), 0.25, "float32"))
    >>> history = declar.fit("specs/keras_guide/custom_compile.yaml", f"{d}/data.npz", f"{d}/m.keras",
    ...                      epochs=2, verbose=0)
    >>> os.path.exists(f"{d}/m.keras.backup")  # removed once m.keras is written
    False
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from declar.archive import LOST_STATE_WARNINGS
from declar.atomic import replace_atomically
from declar.errors import ArchiveError, DataError
from declar.spec.model import TrainingSpec

BACKUP_SUFFIX = ".backup"
STATE_FILE = "state.json"
STATE_FORMAT = 1
WEIGHTS_NAME = re.compile(r"epoch-(\d{4,})\.weights\.h5")
ARRAYS_NAME = re.compile(r"epoch-(\d{4,})\.callbacks\.npz")
"""The files this module writes beside the state; a temporary one is ``.epoch-NNNN.<kind>.<random>.<kind>``."""
STATE_LIMIT = 64 * 2**20
"""A larger state.json is not one this module wrote (its history would need millions of epochs)."""
FILE_MODE = 0o600  # a backup is the run's own scratch state, not an artefact to share
KEY_PARTS = {"spec": "the spec differs", "model": "the model's state before training differs",
             "data": "the data differ", "options": "the fit options differ",
             "backend": "the Keras backend differs", "keras": "the Keras version differs"}


def backup_directory(out_path: str | os.PathLike[str], section: TrainingSpec | None = None) -> Path:
    """Where the backup of a run writing ``out_path`` lives: ``OUT.keras.backup`` beside it, or the
    training section's ``BackupAndRestore`` ``backup_dir``, relative to the output's directory.

    Example:
        >>> backup_directory("runs/m.keras").as_posix()
        'runs/m.keras.backup'
    """
    out = Path(out_path)
    chosen = _backup_args(section).get("backup_dir")
    if isinstance(chosen, str) and chosen:
        return out.parent / chosen
    return out.with_name(out.name + BACKUP_SUFFIX)


def _backup_args(section: TrainingSpec | None) -> Mapping[str, Any]:
    """The arguments of the section's ``BackupAndRestore`` callback (empty without one)."""
    for callback in section.callbacks if section else ():
        if callback.name == "BackupAndRestore":
            return callback.args
    return {}


def run_key(model: keras.Model, data: Sequence[str | os.PathLike[str]], options: Mapping[str, Any]) -> dict[str, str]:
    """What makes two runs the same run: a backup resumes only a run with an equal key.

    Example:
        >>> import declar
        >>> sorted(run_key(declar.build("specs/keras_guide/custom_compile.yaml"), [], {"epochs": 2}))
        ['backend', 'data', 'keras', 'model', 'options', 'spec']
    """
    return {"spec": str(model.declar_spec.sha256), "model": _state_digest(model),
            "data": _digest(_data_chunks(data)),
            "options": json.dumps(options, sort_keys=True, default=_option_text),
            "backend": keras.backend.backend(), "keras": keras.__version__}


def _option_text(value: Any) -> str:
    """An option that is not a JSON value, by its type only: a repr may hold a memory address,
    which would make every start another run. (Options are JSON values; data come as paths.)"""
    return f"<{type(value).__name__}>"


def _digest(chunks: Iterator[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "little"))  # so that no two sequences of chunks hash alike
        h.update(chunk)
    return h.hexdigest()


def _all_variables(model: keras.Model) -> list[keras.Variable]:
    """The variables of the model (seed states included) and of its optimizer."""
    return [*model.variables, *(model.optimizer.variables if model.optimizer else ())]


def _state_digest(model: keras.Model) -> str:
    """Digest of the weights of the model and its optimizer's variables, as they are now (not the
    seed states: a layer without a seed starts from a new one in each process, yet resumes)."""
    return _digest(chunk for v in [*model.weights, *(model.optimizer.variables if model.optimizer else ())]
                   for chunk in (v.path.encode(), str(v.dtype).encode(), np.ascontiguousarray(v.numpy()).tobytes()))


def _data_chunks(paths: Sequence[str | os.PathLike[str]]) -> Iterator[bytes]:
    """A file's content; for a directory (of images, of text), each file's relative name, size and
    modification time (reading every image at each start would cost more than the epoch it saves)."""
    for path in map(Path, paths):
        yield os.fsencode(path.resolve())
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                stat = file.stat()
                yield f"{file.relative_to(path).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
        elif path.is_file():
            with open(path, "rb") as f:
                while chunk := f.read(2**20):
                    yield chunk


def _seed_generators(model: keras.Model) -> dict[str, keras.random.SeedGenerator]:
    """Every seed generator of the model's layers, named by the layer's position and name."""
    found: dict[str, keras.random.SeedGenerator] = {}
    # Keras has no public list of a model's seed generators: each layer tracks its own in
    # _seed_generators, and _flatten_layers reaches the layers of nested models too.
    for position, layer in enumerate(model._flatten_layers(include_self=True)):
        for i, generator in enumerate(getattr(layer, "_seed_generators", ())):
            found[f"{position}:{layer.name}#{i}"] = generator
    return found


def _file_sha256(path: Path) -> str:
    return _digest(iter([path.read_bytes()]))


@dataclass
class Resume:
    """What a run needs from its backup: the epoch to start from, the callbacks (`callbacks`), and
    `trained` and `finish` once `model.fit` returned and once the output is written. Made by
    `resume_run`."""

    backup: BackupCallback
    initial_epoch: int = 0
    replaces_source: bool = False
    """The output is the archive the run started from: once it is replaced, the backup no longer
    matches the model a restart loads, so the backup goes before the output is written."""

    def callbacks(self, others: Sequence[keras.callbacks.Callback] = ()) -> list[keras.callbacks.Callback]:
        """``others`` (the training section's callbacks), then the one writing the backup, which
        keeps their state from one epoch to the next too (a plateau's patience, the best weights)."""
        self.backup.track(others)
        return [*others, self.backup]

    def trained(self) -> None:
        """`model.fit` returned; call it before the output is written."""
        if self.replaces_source:
            self.finish()

    def finish(self) -> None:
        """The run is complete (archive and history written): remove the backup unless kept."""
        if not self.backup.keep:
            remove_backup(self.backup.directory)


class NoResume:
    """A run that keeps no backup: the workers of a cluster (each would write the same backup, and a
    worker restarted alone cannot rejoin its peers' epoch); a killed cluster starts again."""

    initial_epoch = 0

    def callbacks(self, others: Sequence[keras.callbacks.Callback] = ()) -> list[keras.callbacks.Callback]:
        return list(others)

    def trained(self) -> None:
        """Nothing to drop."""

    def finish(self) -> None:
        """Nothing to remove."""


def resume_run(out_path: str | os.PathLike[str], model: keras.Model, data: Sequence[str | os.PathLike[str]],
               options: Mapping[str, Any], section: TrainingSpec | None = None,
               say: Callable[[str], None] | None = print, source: object = None) -> Resume:
    """Restore ``model`` from the backup of this run at ``out_path``, if there is one, and give the
    callbacks and the epoch to start from; call it after the model is ready to train (built,
    adapted) and before `model.fit`. ``say`` prints what happens to the backup (None: nothing).
    ``source`` is what the run trains (a spec or an archive): an archive replaced by the output
    loses its backup just before (see `Resume.trained`).

    Example:
        >>> import declar, numpy as np, tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> spec, x, y = "specs/keras_guide/custom_compile.yaml", np.ones((8, 8), "float32"), np.ones((8, 4), "float32")
        >>> model = declar.build(spec)
        >>> resume = resume_run(out, model, [], {"epochs": 2}, say=None)
        >>> _ = model.fit(x, y, epochs=2, callbacks=resume.callbacks(), initial_epoch=resume.initial_epoch, verbose=0)
        >>> sorted(os.listdir(out + ".backup"))
        ['epoch-0002.weights.h5', 'state.json']
        >>> resume_run(out, declar.build(spec), [], {"epochs": 2}).initial_epoch
        all 2 epochs were done already; writing the output
        2
    """
    out = Path(out_path)
    if not (out.parent if str(out.parent) else Path(".")).is_dir():  # refused now, not after training
        raise ArchiveError(f"{out}: directory {out.parent} does not exist", file=os.fspath(out))
    directory = backup_directory(out_path, section)
    key = run_key(model, data, options)
    backup = BackupCallback(directory, key, keep=_backup_args(section).get("delete_checkpoint") is False)
    replaces = source is not None and _same_file(source, out_path)
    epochs = int(options.get("epochs") or 1)
    state, problem = read_state(directory)
    if state is not None:
        differ = [k for k in [*KEY_PARTS, *sorted(set(state["key"]) - set(KEY_PARTS))]
                  if key.get(k) != state["key"].get(k)]
        if "spec" in differ:  # another spec builds another model: saying so too would say nothing more
            differ = [k for k in differ if k != "model"]
        differences = [KEY_PARTS.get(k, k) for k in differ]
        problem = f"it holds the backup of another run ({', '.join(differences)})" if differences else None
    arrays: dict[str, np.ndarray] = {}
    if state is not None and problem is None:
        try:
            arrays = restore(model, directory, state)
        except (OSError, ValueError, KeyError) as err:
            problem = f"the backup cannot be restored ({err})"
    if problem is not None or state is None:
        if problem is not None:
            if say:
                say(f"{directory}: {problem}; starting afresh from epoch 1 of {epochs}")
            remove_backup(directory)
        return Resume(backup, replaces_source=replaces)
    done = state["epoch"]
    backup.restored(state, arrays)
    if say:
        say(f"resuming from epoch {done + 1} of {epochs}" if done < epochs and not state["stopped"]
            else f"the run stopped early after epoch {done} of {epochs}; writing the output" if done < epochs
            else f"all {epochs} epochs were done already; writing the output")
    return Resume(backup, initial_epoch=epochs if state["stopped"] else done, replaces_source=replaces)


def _same_file(a: Any, b: str | os.PathLike[str]) -> bool:
    try:
        return isinstance(a, (str, os.PathLike)) and os.path.samefile(a, b)
    except OSError:  # the output does not exist yet
        return False


def read_state(directory: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The backup's state, or None and why (None and None: there is no backup)."""
    path = directory / STATE_FILE
    if not path.is_file():
        return None, None
    try:
        if path.stat().st_size > STATE_LIMIT:
            return None, f"{STATE_FILE} is larger than any state this declar writes"
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return None, f"{STATE_FILE} cannot be read ({err})"
    if not _well_formed(state):
        return None, f"{STATE_FILE} is not a backup state this declar writes"
    return state, None


def _well_formed(state: Any) -> bool:
    """Every field `resume_run` reads, with its type: anything else is not a state of ours."""
    def ints(v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)

    def number(v: Any) -> bool:
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))

    files = state.get("files") if isinstance(state, dict) else None
    return (isinstance(state, dict) and state.get("format") == STATE_FORMAT
            and isinstance(state.get("epoch"), int) and state["epoch"] >= 0 and isinstance(state.get("stopped"), bool)
            and isinstance(files, dict) and all(isinstance(v, str) for v in files.values())
            and [WEIGHTS_NAME.fullmatch(n) is not None for n in files][:1] == [True]
            and all(ARRAYS_NAME.fullmatch(n) is not None for n in list(files)[1:]) and len(files) <= 2
            and isinstance(state.get("key"), dict) and all(isinstance(v, str) for v in state["key"].values())
            and isinstance(state.get("seeds"), dict) and all(ints(v) for v in state["seeds"].values())
            and isinstance(state.get("history"), list) and len(state["history"]) == state["epoch"]
            and all(isinstance(e, dict) for e in state["history"])
            and isinstance(state.get("callbacks"), dict)
            and all(isinstance(v, dict) and all(number(x) for x in v.values()) for v in state["callbacks"].values()))


def restore(model: keras.Model, directory: Path, state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Load the backup's weights, optimizer and seed states into ``model`` (a `ValueError` if the
    backup does not match it or any state would be lost); the callbacks' arrays it holds."""
    for name, sha256 in state["files"].items():
        if _file_sha256(directory / name) != sha256:
            raise ValueError(f"{name} does not have the content its state recorded")
    weights, *extra = (directory / name for name in state["files"])
    arrays = _read_arrays(extra[0]) if extra else {}
    generators = _seed_generators(model)
    if set(generators) != set(state["seeds"]):
        raise ValueError("the model's seed generators are not the backup's")
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # so that its variables exist to be loaded
    variables = _all_variables(model)
    before = [v.numpy() for v in variables]  # a run starting afresh must start from the fresh model
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(weights)
        for warning in caught:
            if any(marker in str(warning.message) for marker in LOST_STATE_WARNINGS):
                raise ValueError(f"loading {weights.name} would lose state: {warning.message}")
        for name, generator in generators.items():
            generator.state.assign(np.asarray(state["seeds"][name], dtype=generator.state.dtype))
    except BaseException:
        for variable, value in zip(variables, before, strict=True):
            variable.assign(value)
        raise
    return arrays


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:  # numbers only: a pickle would run code
        return {name: f[name] for name in f.files}


def remove_backup(directory: Path) -> None:
    """Delete what this module wrote in ``directory`` (and the directory, if that leaves it empty)."""
    if not directory.is_dir():
        return
    for file in directory.iterdir():
        if file.name == STATE_FILE or _ours(file.name):
            file.unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass  # it holds files of someone else: they stay


def _ours(name: str) -> bool:
    """A file this module wrote beside the state, or a temporary file a kill left behind."""
    return (WEIGHTS_NAME.fullmatch(name) is not None or ARRAYS_NAME.fullmatch(name) is not None
            or (name.startswith(f".{STATE_FILE}.") and name.endswith(".tmp"))
            or (name.startswith(".epoch-") and name.endswith((".weights.h5", ".callbacks.npz"))))


CALLBACK_STATE = {"EarlyStopping": ("wait", "stopped_epoch", "best", "best_epoch"),
                  "ReduceLROnPlateau": ("wait", "cooldown_counter", "best"),
                  "ModelCheckpoint": ("best",)}
"""The attributes in which Keras's callbacks carry state from one epoch to the next (each resets
them when training begins); EarlyStopping's ``best_weights`` is kept too, in the arrays file."""


class BackupCallback(keras.callbacks.Callback):
    """Writes the backup at the end of every epoch, puts the tracked callbacks' state back when a
    resumed run begins, and gives back the restored epochs' history at its end. It comes after the
    callbacks that change the state at an epoch's end (a learning rate lowered on a plateau, the
    best weights put back when stopping early), so the backup holds their change."""

    def __init__(self, directory: Path, key: Mapping[str, str], *, keep: bool = False) -> None:
        super().__init__()
        self.directory, self.key, self.keep = directory, dict(key), keep
        self.history: list[dict[str, Any]] = []
        self.tracked: dict[str, keras.callbacks.Callback] = {}
        self.to_restore: tuple[dict[str, Any], dict[str, list[np.ndarray]]] | None = None

    def restored(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        """The run goes on from ``state``: its history is this run's first epochs, and its
        callbacks' state is put back when training begins."""
        self.history = [dict(e) for e in state["history"]]
        weights: dict[str, list[np.ndarray]] = {}
        for name in sorted(arrays, key=lambda n: int(n.rpartition("/")[2])):
            weights.setdefault(name.rpartition("/")[0], []).append(arrays[name])
        self.to_restore = dict(state["callbacks"]), weights

    def track(self, callbacks: Sequence[keras.callbacks.Callback]) -> None:
        """Keep the state of ``callbacks`` (those of Keras's that have some) in the backup."""
        self.tracked = {f"{i}:{_kind(c)}": c for i, c in enumerate(callbacks) if _kind(c)}
        if self.to_restore is None:
            return
        if set(self.to_restore[0]) != set(self.tracked):
            raise DataError(f"{self.directory}: the backup was written with other callbacks "
                            f"({', '.join(self.to_restore[0]) or 'none'}); remove it to start afresh")
        for callback in callbacks:
            if isinstance(callback, keras.callbacks.CSVLogger):
                callback.append = True  # the restored epochs' rows are in the file already

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.to_restore is None:
            return
        values, weights = self.to_restore
        for name, callback in self.tracked.items():  # after their own on_train_begin reset them
            for attribute, value in values[name].items():
                setattr(callback, attribute, value)
            if name in weights:
                callback.best_weights = weights[name]

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.history.append({k: float(v) for k, v in (logs or {}).items()})
        self.write(epoch + 1, stopped=bool(getattr(self.model, "stop_training", False)))

    def write(self, done: int, stopped: bool = False) -> None:
        """Write the backup after ``done`` epochs: the weights (and arrays) file, then the state
        that names it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        weights = self.directory / f"epoch-{done:04d}.weights.h5"
        replace_atomically(weights, lambda tmp: self.model.save_weights(tmp), mode=FILE_MODE, suffix=".weights.h5")
        arrays = {f"{name}/{i}": np.asarray(w) for name, c in self.tracked.items()
                  for i, w in enumerate(getattr(c, "best_weights", None) or ())}
        written = [weights]
        if arrays:
            written.append(self.directory / f"epoch-{done:04d}.callbacks.npz")
            replace_atomically(written[1], lambda tmp: np.savez(tmp, **arrays), mode=FILE_MODE, suffix=".callbacks.npz")
        state = {"format": STATE_FORMAT, "epoch": done, "stopped": stopped,
                 "files": {f.name: _file_sha256(f) for f in written}, "key": self.key, "history": self.history,
                 "seeds": {name: [int(i) for i in np.asarray(g.state.numpy()).ravel()]
                           for name, g in _seed_generators(self.model).items()},
                 "callbacks": {name: {a: _plain(getattr(c, a, None)) for a in CALLBACK_STATE[_kind(c)]}
                               for name, c in self.tracked.items()}}
        text = json.dumps(state, indent=1)
        replace_atomically(self.directory / STATE_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"),
                           mode=FILE_MODE)
        for file in self.directory.iterdir():  # the previous epoch's files, and what a kill left behind
            if file.name not in state["files"] and file.name != STATE_FILE and _ours(file.name):
                file.unlink(missing_ok=True)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        history = getattr(self.model, "history", None)
        restored = self.history[:len(self.history) - len(getattr(history, "epoch", ()))]
        if history is None or not restored:
            return
        # Keras's History saw only this process's epochs: the restored ones come first.
        history.epoch = [*range(len(restored)), *history.epoch]
        for name in {k for e in restored for k in e} | set(history.history):
            history.history[name] = [e.get(name) for e in restored] + list(history.history.get(name, []))


def _kind(callback: keras.callbacks.Callback) -> str:
    """The Keras callback of `CALLBACK_STATE` that ``callback`` is (a subclass too), or ''."""
    return next((c.__name__ for c in type(callback).__mro__ if c.__name__ in CALLBACK_STATE
                 and c.__module__.startswith("keras.")), "")


def _plain(value: Any) -> int | float | None:
    """A callback's number as JSON keeps it (a float64 holds a float32 exactly)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    return float(value)
