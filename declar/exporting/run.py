"""The export job: the model, what its format refuses, the conversion, the check, the atomic write.

Everything is written inside a hidden temporary directory next to ``out`` (so the final rename
stays on one file system); ``out`` appears, or is replaced, only after the artifact passed its
check, and ``OUT.export.json`` beside it records the format, the converter's and runtime's
versions (with the ONNX opset), the model's inputs and outputs and what the check found. A
refused export leaves no ``out`` and the previous one, if any, untouched.

Example (what `declar export` prints, from the report of an export):
    >>> versions = {"keras": "3.15.1", "tensorflow": "2.21.0", "tf2onnx": "1.17.0", "onnx": "1.23.2", "opset": 15}
    >>> print(ExportReport("m.onnx", "onnx", versions, None, "m.onnx.export.json").render())
    wrote m.onnx (ONNX; Keras 3.15.1, TensorFlow 2.21.0, tf2onnx 1.17.0, onnx 1.23.2, opset 15)
    not verified (--no-verify)
    wrote m.onnx.export.json
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from declar._version import __version__
from declar.archive import is_archive
from declar.errors import ExportError, Problem
from declar.exporting.check import (
    Verification,
    batches_for,
    compare,
    keras_outputs,
    output_names,
    run_worker,
    runtime_outputs,
    seeded_feeds,
    write_feeds,
)
from declar.exporting.convert import ConversionFailed, convert, unknown_onnx_nodes
from declar.exporting.formats import FORMATS, ExportFormat
from declar.exporting.refusals import (
    first_scope,
    output_node_path,
    random_draw_problems,
    scope_problem,
    unadapted_problems,
)
from declar.limits import DEFAULT_LIMITS, Limits
from declar.spec.load import SpecSource, load_spec
from declar.spec.loaded import LoadedSpec
from declar.text import first_line

METADATA_SUFFIX = ".export.json"
"""What is appended to the artifact's name for the file of versions beside it."""


@dataclass(frozen=True)
class ExportReport:
    """What `export` wrote and what its check found (``verification`` is None with ``verify=False``)."""

    out: str
    format: str
    versions: dict[str, Any]
    verification: Verification | None
    metadata: str

    def render(self) -> str:
        """The lines `declar export` prints."""
        fmt = FORMATS[self.format]
        made = ", ".join(f"{k} {v}" for k, v in self.versions.items() if k not in ("keras", "tensorflow"))
        by = f"Keras {self.versions['keras']}, TensorFlow {self.versions['tensorflow']}" + (f", {made}" if made else "")
        lines = [f"wrote {self.out} ({fmt.title}; {by})"]
        lines.append(self.verification.render() if self.verification else "not verified (--no-verify)")
        lines.append(f"wrote {self.metadata}")
        return "\n".join(lines)


def export(source: SpecSource | str | os.PathLike[str], out: str | os.PathLike[str], *, format: str,
           verify: bool = True, batch_size: int | None = None, limits: Limits = DEFAULT_LIMITS) -> ExportReport:
    """Export a spec (built from its seed) or a .keras archive as ``format`` at ``out``, checked in its runtime.

    The batch dimension stays dynamic unless ``batch_size`` fixes it.

    Raises `ExportError`: located problems when the format cannot express part of the spec or
    its runtime computes something else; one message when a package is missing (naming the
    extra) or the backend is not TensorFlow.

    Example:
        >>> import tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "m.tflite")
        >>> export("specs/keras_guide/custom_build.yaml", out, format="litert", verify=False).versions["keras"]
        '3.15...'
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; the formats: {', '.join(FORMATS)}", code="export-format")
    fmt = FORMATS[format]
    fmt.require()
    target = Path(out)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise ExportError(f"{out}: directory {directory} does not exist", file=os.fspath(out))
    if batch_size is not None and batch_size < 1:
        raise ExportError(f"the batch size must be at least 1, got {batch_size}", code="export-batch")
    model, loaded = _model(source, limits)
    problems = unadapted_problems(loaded, model) or random_draw_problems(loaded, model, fmt.title)
    if problems:
        raise ExportError(problems=problems)
    # Keras's predictions first: the exporters also want a model that has been called once.
    batches = batches_for(batch_size)
    expected = [keras_outputs(model, xs) for xs in seeded_feeds(model, batches)]
    with tempfile.TemporaryDirectory(dir=directory, prefix=f".{target.name}.") as work:
        artifact = os.path.join(work, "artifact" + fmt.suffix)
        versions = _convert(loaded, model, fmt, artifact, batch_size)
        verification = _verify(loaded, model, fmt, artifact, Path(work), target, expected, batches) if verify \
            else None
        metadata = Path(work, "export.json")
        record = _metadata(source, loaded, model, fmt, target, versions, verification, batch_size)
        metadata.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        # The artifact first, then its record: a record never describes an artifact that is not there.
        _install(Path(artifact), target, Path(work))
        sidecar = target.with_name(target.name + METADATA_SUFFIX)
        os.replace(metadata, sidecar)
    return ExportReport(os.fspath(out), fmt.name, versions, verification, os.fspath(sidecar))


def _model(source: SpecSource | str | os.PathLike[str], limits: Limits) -> tuple[Any, LoadedSpec]:
    """An archive loaded (its embedded spec locates problems), or a spec built from its seed."""
    import keras

    from declar.api import build, load

    if keras.backend.backend() != "tensorflow":
        raise ExportError(f"declar export uses Keras's TensorFlow route for every format; this process runs "
                          f"the {keras.backend.backend()} backend: run it with KERAS_BACKEND=tensorflow",
                          code="export-backend")
    if is_archive(source):
        path = os.fspath(source)  # type: ignore[arg-type]
        model = load(path, compile=False, limits=limits)
        return model, LoadedSpec.bare(model.declar_spec, f"{path} (embedded spec)", archive=True)
    loaded = load_spec(source, limits)
    return build(loaded, compile=False, distribute=False, limits=limits), loaded


def _convert(loaded: LoadedSpec, model: Any, fmt: ExportFormat, artifact: str, batch_size: int | None
             ) -> dict[str, Any]:
    """Convert, turning the converter's refusals into problems located at the layers they name."""
    try:
        versions = convert(model, fmt, artifact, batch_size)
    except ConversionFailed as failed:
        raise ExportError(problems=conversion_problems(loaded, fmt, failed.text, batch_size)) from None
    if fmt.name == "onnx":
        unknown = unknown_onnx_nodes(artifact)
        if unknown:
            raise ExportError(problems=[
                scope_problem(loaded, name, f"tf2onnx has no ONNX operator for TensorFlow's {op}",
                              "the layer computes an op ONNX cannot express") for name, op in unknown])
    return versions


TF_OP = re.compile(r"'(tf\.[\w.]+)'")
LITERT_HINT = "LiteRT runs its builtin operators only, without the Flex delegate"
FIXED_BATCH_HINT = ("LiteRT runs its builtin operators only, without the Flex delegate; with a fixed batch "
                    "size the converter lowers it: export with --batch-size 1")


def conversion_problems(loaded: LoadedSpec, fmt: ExportFormat, text: str, batch_size: int | None = None
                        ) -> list[Problem]:
    """The converter's errors, one per layer whose name scope they mention (at the model when none).

    Example:
        >>> from declar.spec.load import load_spec
        >>> line = ('error: loc(callsite(fused["Conv2D:", "m_1/up2_1/convolution@__inference_f_2"])): '
        ...         "'tf.Conv2D' op is neither a custom op nor a flex op")
        >>> loaded = load_spec("declar: 2\\nname: m\\ninputs: {x: {shape: [8, 8, 1]}}\\n"
        ...                    "model: [{Conv2D: {filters: 1, kernel_size: 1, name: up2}}]\\n")
        >>> [p.render() for p in conversion_problems(loaded, FORMATS["litert"], line)]
        ["<string>:4:10: error: layer up2 (Conv2D): the LiteRT converter cannot lower TensorFlow's tf.Conv2D to \
LiteRT's builtin operators (LiteRT runs its builtin operators only, without the Flex delegate; with a fixed batch \
size the converter lowers it: export with --batch-size 1)"]
    """
    errors = [line for line in text.splitlines() if "error:" in line and "loc(" in line and TF_OP.search(line)]
    if fmt.name != "litert" or not errors:
        return [scope_problem(loaded, first_scope(text), f"the {fmt.title} converter refused the model: "
                              f"{first_line(text, 300)}")]
    problems: dict[Any, Problem] = {}
    for line in errors:
        op = TF_OP.search(line).group(1)  # type: ignore[union-attr]
        hint = FIXED_BATCH_HINT if batch_size is None else LITERT_HINT
        found = scope_problem(loaded, first_scope(line), f"the LiteRT converter cannot lower TensorFlow's {op} to "
                              "LiteRT's builtin operators", hint)
        problems.setdefault(found.path, found)  # one per layer: its ops fail on several lines
    return list(problems.values())


def _verify(loaded: LoadedSpec, model: Any, fmt: ExportFormat, artifact: str, work: Path, target: Path,
            expected: list[list[tuple[str, Any]]], batches: tuple[int, ...]) -> Verification:
    """Run the artifact in a fresh process on the seeded feeds and compare with Keras's ``expected``."""
    feeds = write_feeds(model, work, "check", batches)
    verdict = run_worker([{"format": fmt.name, "artifact": artifact, "feeds": feeds}], work)[0]
    if not verdict["ok"]:
        error = verdict["error"]
        raise ExportError(problems=[scope_problem(loaded, first_scope(error), f"{fmt.runtime} could not run the "
                                                  f"{fmt.title} artifact: {error}; {target} was not written")])
    found = compare(fmt, verdict["runtime"], len(model.inputs), expected, [runtime_outputs(f) for f in feeds],
                    batches)
    if not found.passed:
        message = (f"{fmt.runtime} computes other predictions than Keras: max abs diff {found.max_abs_diff:.3g} at "
                   f"output {found.worst_output!r}, over {fmt.atol:g} (atol) + {fmt.rtol:g} (rtol) x |keras|; "
                   f"{target} was not written")
        raise ExportError(problems=[loaded.problem(output_node_path(loaded, found.worst_output), message,
                                                   "the format's arithmetic differs from Keras's here",
                                                   "export-mismatch")])
    return found


def _metadata(source: Any, loaded: LoadedSpec, model: Any, fmt: ExportFormat, target: Path,
              versions: dict[str, Any], verification: Verification | None, batch_size: int | None) -> dict[str, Any]:
    inputs = [{"name": t.name, "shape": [batch_size, *t.shape[1:]], "dtype": str(t.dtype)} for t in model.inputs]
    return {"artifact": target.name, "format": fmt.name, "source": os.fspath(source) if isinstance(
                source, (str, os.PathLike)) else loaded.origin.file,
            "model": loaded.spec.name, "spec_sha256": loaded.spec.sha256, "declar": __version__,
            "inputs": inputs, "outputs": output_names(model), "converter": versions,
            "verification": verification.as_dict() if verification else None}


def _install(artifact: Path, target: Path, work: Path) -> None:
    """Put the checked artifact at ``target``: one rename, after moving what was there aside
    (a SavedModel is a directory, which ``os.replace`` cannot put over a full one)."""
    if target.exists() or target.is_symlink():
        os.replace(target, work / "previous")
    try:
        os.replace(artifact, target)
    except OSError:
        if (work / "previous").exists():
            os.replace(work / "previous", target)  # put the old one back: out keeps its previous content
        raise
    shutil.rmtree(work / "previous", ignore_errors=True)


__all__ = ["METADATA_SUFFIX", "ExportReport", "export"]
