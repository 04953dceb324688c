"""`declar import`: an existing Keras model becomes a spec and an archive with the model's weights.

The steps, each before the next: survey the serialized config (a .keras file's config.json read
as JSON, within the archive limits; nothing deserialized) and refuse, naming every layer, any
custom Python code; load the file with Keras's loader in safe mode; write the spec (defaults left
out, names kept, compile settings carried); validate it as `declar validate` does; build it, copy
the original's weights layer by layer (matched by name, into nested models and blocks too),
require bit-identical predictions in this process, save the archive, and have a fresh process
load both files and compare again.

Example:
    >>> import keras, tempfile, os
    >>> x = keras.Input((4,), name="x")
    >>> m = keras.Model(x, keras.layers.Dense(2, name="d")(x), name="m")
    >>> d = tempfile.mkdtemp()
    >>> report = import_model(m, os.path.join(d, "m.yaml"), fresh_process=False)
    >>> report.layers, os.path.basename(report.archive)
    (['d'], 'm.keras')
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from declar.api import build, save
from declar.atomic import replace_atomically
from declar.errors import DeclarError, ImportRefused, VerifyError
from declar.importer.check import differences, outputs
from declar.importer.config import Unimportable, read_config, survey
from declar.importer.emit import spec_text
from declar.spec.load import load_spec
from declar.starter import schema_ref as published_schema
from declar.verify import probe_inputs

if TYPE_CHECKING:
    import keras

PROBE_BATCH = 4
"""Examples in the probe batch both models predict on."""


@dataclass
class ImportReport:
    """What `import_model` wrote and checked."""

    spec: str
    """Path of the spec written."""
    archive: str
    """Path of the archive built from the spec, holding the original's weights."""
    layers: list[str] = field(default_factory=list)
    """The layers imported (inside nested models by path, ``encoder/conv_1``)."""
    parameters: int = 0
    compared: str = ""
    """What the check compared, in words."""

    def render(self) -> str:
        return "\n".join([f"wrote {self.spec} ({len(self.layers)} layers, {self.parameters:,} parameters)",
                          f"wrote {self.archive} (the spec's model with the original's weights)",
                          f"checked: {self.compared}"])


def import_model(source: str | os.PathLike[str] | keras.Model, out: str | os.PathLike[str], *,
                 archive: str | os.PathLike[str] | None = None, schema: str | None = None,
                 fresh_process: bool = True) -> ImportReport:
    """Write the spec of a Keras model (a .keras file, or a model object) to ``out`` and, next to
    it (or at ``archive``), the archive built from that spec with the model's weights.

    Raises `ImportRefused` naming every layer that is custom Python code (Lambda, custom classes,
    subclassed models), with the layers that would import, before anything from a file is loaded.
    """
    import keras

    label = os.path.basename(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else "a Keras model object"
    config = _config(source)
    found = survey(config)
    if found.refused:
        raise ImportRefused(found.refused, found.importable, label)
    spec_path = Path(out)
    archive_path = Path(archive) if archive is not None else spec_path.with_suffix(".keras")
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(source, (str, os.PathLike)):
            original_file = os.fspath(source)
            if archive_path.resolve() == Path(original_file).resolve():
                raise ImportRefused([f"the archive {archive_path} would replace the model being imported; give "
                                     "--archive"], [], label)
        else:
            # Saved by Keras and read back, a model object is numbered as a file is (a layer's calls
            # counted in this model only) and is what the fresh process loads.
            original_file = os.path.join(tmp, "original.keras")
            source.save(original_file)
            config = read_config(original_file)
        model = keras.saving.load_model(original_file, safe_mode=True, compile=False)
        try:
            return _import(model, config, label, original_file, spec_path, archive_path, schema, fresh_process)
        except Unimportable as err:  # built-in, but not a thing a spec can say (a ragged input, a keras.ops call)
            raise ImportRefused([str(err)], found.importable, label) from None


def _import(model: keras.Model, config: dict[str, Any], label: str, original_file: str, spec_path: Path,
            archive_path: Path, schema: str | None, fresh_process: bool) -> ImportReport:
    text = _spec_text(model, config, label, schema or published_schema())
    loaded = load_spec(text)  # a problem here is the importer's own: a SpecError, and nothing written
    report = ImportReport(os.fspath(spec_path), os.fspath(archive_path))
    built = _built_with_weights(loaded, model, report)
    inputs = probe_inputs(model, batch=PROBE_BATCH)
    _check_same(model, built, inputs)
    replace_atomically(spec_path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=0o644)
    save(built, archive_path)
    outputs_count = len(outputs(model, inputs))
    report.compared = (f"{outputs_count} output{'s' * (outputs_count != 1)} on a probe batch of {PROBE_BATCH} "
                       "bit-identical, original and spec-built model in this process")
    if fresh_process:
        _check_fresh(model, original_file, archive_path, inputs)
        report.compared += "; original (Keras, safe mode) and archive (declar.load) in a fresh process, too"
    return report


def _config(source: str | os.PathLike[str] | keras.Model) -> dict[str, Any]:
    import keras

    if isinstance(source, (str, os.PathLike)):
        return read_config(source)
    subclass = {"class_name": type(source).__name__, "module": type(source).__module__, "config": {"name": source.name}}
    if not isinstance(source, (keras.Sequential, keras.Model)) or type(source).__module__.split(".")[0] != "keras":
        return subclass  # its call is Python code, whatever its config says
    config = keras.saving.serialize_keras_object(source)
    if source.compiled and not config.get("compile_config"):
        config["compile_config"] = source.get_compile_config()
    return config


def _spec_text(model: keras.Model, config: dict[str, Any], label: str, schema: str) -> str:
    from declar.importer.convert import spec_data

    data = spec_data(model, config, description=f"Imported from {label} by declar import.")
    return spec_text(data, schema_ref=schema, header=[
        "Written by `declar import`: arguments equal to Keras's defaults are left out, layer names are",
        "kept; the archive written with it holds the original's weights."])


def _built_with_weights(loaded: Any, original: keras.Model, report: ImportReport) -> keras.Model:
    built = build(loaded)
    report.layers = _copy_weights(original, built)
    report.parameters = built.count_params()
    if built.count_params() != original.count_params():
        raise VerifyError(f"the spec's model has {built.count_params():,} parameters, the original "
                          f"{original.count_params():,}")
    return built


def _copy_weights(original: Any, built: Any, prefix: str = "") -> list[str]:
    """Copy each layer's weights into the layer of the same (spec) name; nested models recursively."""
    from declar.importer.convert import identifier

    names = []
    for layer in original.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        target = built.get_layer(identifier(layer.name))
        if hasattr(layer, "layers") and layer.__class__.__name__ in ("Functional", "Sequential"):
            names += _copy_weights(layer, target, f"{prefix}{layer.name}/")
            continue
        target.set_weights(layer.get_weights())
        names.append(prefix + layer.name)
    return names


def _check_same(original: Any, built: Any, inputs: list[np.ndarray]) -> None:
    wrong = differences(outputs(original, inputs), outputs(built, inputs))
    if wrong:
        raise VerifyError(f"outputs {wrong} of the spec's model differ from the original's on the probe batch")


def _check_fresh(model: Any, original_file: str, archive: Path, inputs: list[np.ndarray]) -> None:
    """Both files loaded in a new process (an object was saved by Keras's own ``model.save``)."""
    with tempfile.TemporaryDirectory() as tmp:
        expected = outputs(model, inputs)
        probe = os.path.join(tmp, "probe.npz")
        np.savez(probe, n_inputs=len(inputs), n_outputs=len(expected),
                 **{f"x{i}": x for i, x in enumerate(inputs)}, **{f"y{i}": y for i, y in enumerate(expected)})
        run = subprocess.run([sys.executable, "-m", "declar.importer.check", original_file, os.fspath(archive), probe],
                             capture_output=True, text=True, timeout=600)
    verdict = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    if run.returncode != 0 or verdict != "ok":
        tail = (run.stderr.strip().splitlines() or [f"exit code {run.returncode}"])[-1]
        raise VerifyError(f"fresh-process check failed: {verdict or tail}"[:500])


__all__ = ["DeclarError", "ImportReport", "import_model"]
