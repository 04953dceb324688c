"""The Python API; the CLI is a thin layer over these functions.

Nothing here imports keras until a function that needs it is called.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from declar.archive import atomic_save, inspect_archive, is_archive, strict_load
from declar.compare import SpecDiff, compare_builds, diff_specs, keras_available, read_spec
from declar.errors import (
    BuildError,
    CompileBuildError,
    DataError,
    DeclarError,
    FunctionCallError,
    ModelBuildError,
    Problem,
    SpecError,
    WeightBudgetError,
)
from declar.limits import DEFAULT_LIMITS, Limits, current_limits
from declar.sections.distribution.cluster import preflight
from declar.spec.load import SpecSource, load_spec
from declar.spec.loaded import LoadedSpec
from declar.spec.model import DistributionSpec, Spec
from declar.text import first_line

if TYPE_CHECKING:
    import keras


def build(spec: SpecSource | Spec | LoadedSpec, *, compile: bool = True, distribute: bool = True,
          limits: Limits = DEFAULT_LIMITS) -> keras.Model:
    """Build the Keras model of a spec (compiled, with its optimizer built, when it has compile settings).

    With ``distribute`` (the default), a spec's ``distribution:`` section is applied: the model is
    built and compiled in the strategy's (TensorFlow) or distribution's (JAX) scope.

    Example:
        >>> import declar
        >>> model = declar.build("specs/keras_guide/custom_build.yaml")
        >>> model.output_shape
        (None, 1)
    """
    from declar._keras_hook import register

    register()
    from declar.sections.distribution.build import distribution_scope, make_distribution

    loaded = load_spec(spec, limits)
    distribution = None
    if distribute and loaded.spec.distribution is not None:
        try:
            distribution = make_distribution(loaded.spec.distribution)
        except (ValueError, RuntimeError) as err:
            raise BuildError([_locate(loaded, ("distribution",), str(err), DISTRIBUTION_HINT)]) from err
    token = current_limits.set(limits)
    try:
        with distribution_scope(distribution):
            model = _construct(loaded, compile)
    finally:
        current_limits.reset(token)
    model.attach_distribution(distribution)
    return model


def _construct(loaded: LoadedSpec, compile: bool) -> keras.Model:
    from declar.keras.model import DeclarModel

    try:
        model = DeclarModel(spec=loaded.spec, source=loaded.source_text, asset_root=loaded.origin.base_dir)
    except ModelBuildError as err:
        over_limit = err.code in LIMIT_CODES
        hint = "declar's limits refused this layer before Keras allocated it" if over_limit else KERAS_REFUSED
        if err.node.op is not None:  # an op node has no layer: its expression ran over keras.ops
            hint = "the op's expression failed on the graph's symbolic tensors"
        raise BuildError([_locate(loaded, err.node.path, str(err), hint)]) from err
    if compile and loaded.spec.compile:
        try:
            model.compile_from_spec()
        except CompileBuildError as err:
            raise BuildError([_locate(loaded, err.where, str(err), "Keras refused this loss or metric")]) from err
        except (ValueError, TypeError, KeyError) as err:
            raise BuildError([_locate(loaded, ("compile",), f"{type(err).__name__}: {err}")]) from err
    return model


KERAS_REFUSED = "Keras refused this layer"
LIMIT_CODES = frozenset({WeightBudgetError.code, "output-too-large"})
"""Codes of a `ModelBuildError` that declar's limits raised, not Keras."""
DISTRIBUTION_HINT = "this machine or process cannot provide the distribution the spec asks for"


def _locate(loaded: LoadedSpec, path: tuple[Any, ...], message: str, hint: str = KERAS_REFUSED) -> Problem:
    """A build or training failure at ``path`` of the spec, located in its kept document."""
    return loaded.problem(path, first_line(message), hint, "keras-build")


def save(source: SpecSource | Spec | keras.Model, out_path: str | os.PathLike[str], *,
         limits: Limits = DEFAULT_LIMITS) -> None:
    """Build (unless given a model) and write a self-contained .keras archive atomically.

    ``limits`` apply to the build and to what is written (a save refuses assets that loading
    under the same limits would refuse).

    Example:
        >>> import declar, tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> declar.save("specs/keras_guide/custom_build.yaml", out)
        >>> os.path.exists(out)
        True
    """
    model = (source if hasattr(source, "save") and not isinstance(source, (str, os.PathLike))
             else build(source, limits=limits))
    token = current_limits.set(limits)
    try:
        atomic_save(model, out_path)
    finally:
        current_limits.reset(token)


def load(path: str | os.PathLike[str], *, compile: bool = True, distribute: bool = False,
         limits: Limits = DEFAULT_LIMITS) -> keras.Model:
    """Load an archive strictly: safe_mode on, and lost state (skipped optimizer variables,
    a model that cannot be built, compile not restored) is an error, not a warning. The model
    loads on one device unless ``distribute`` applies the embedded spec's ``distribution:``.

    Example:
        >>> import declar, tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> declar.save("specs/keras_guide/custom_build.yaml", out)
        >>> declar.load(out).name
        'custom_build_model'
    """
    from declar._keras_hook import register

    register()
    token = current_limits.set(limits)
    try:
        return _load(path, compile, distribute)
    finally:
        current_limits.reset(token)


def _load(path: str | os.PathLike[str], compile: bool, distribute: bool) -> keras.Model:
    if not distribute:
        return strict_load(path, compile=compile)
    from declar.sections.distribution.build import distribution_scope, make_distribution

    section = DistributionSpec.from_data(inspect_archive(path)["spec"].get("distribution"))
    try:
        distribution = make_distribution(section) if section else None
    except (ValueError, RuntimeError) as err:
        raise BuildError([Problem(f"{os.fspath(path)} (embedded spec)", 1, 1, ("distribution",), str(err),
                                  DISTRIBUTION_HINT, "keras-build")]) from err
    with distribution_scope(distribution):
        model = strict_load(path, compile=compile)
    model.attach_distribution(distribution)
    return model


def data_names(model: keras.Model) -> tuple[list[str], list[str]]:
    """Names the arrays of a data file must have: the model's inputs, then its outputs."""
    spec: Spec = model.declar_spec
    return [i.name for i in spec.inputs], list(spec.output_names)


def fit(source: SpecSource | Spec | str | os.PathLike[str], data: str | os.PathLike[str] | None,
        out_path: str | os.PathLike[str], *, epochs: int | None = None, batch_size: int | None = None,
        validation_split: float | None = None, shuffle: bool | None = None, verbose: int | str = "auto",
        limits: Limits = DEFAULT_LIMITS) -> keras.callbacks.History:
    """Train a spec (built fresh) or an archive (resumed where it stopped) on its data, then save.

    The data (an `.npz` or CSV file, a TFRecord file, a directory of images; None: the spec's
    ``training.data``) is named after the model's inputs and outputs (see `data_names`). The spec's
    `training:` section gives the epochs, batch size, validation and callbacks; the arguments given
    here override it. ``verbose``: 0 silent, 1 Keras's bar, 2 one plain line per epoch, ``"auto"``
    the bar on a terminal and lines otherwise. The history is written next to the archive
    (``m.keras`` -> ``m.history.json``). The data is checked before it is read (see
    `declar.training_data`): a bad one is a `DataError`, never a traceback.

    Example:
        >>> import declar, numpy as np, tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> np.savez(f"{d}/data.npz", x=np.ones((8, 8), "float32"), dense_1=np.full((8, 4), 0.25, "float32"))
        >>> spec = "specs/keras_guide/custom_compile.yaml"
        >>> history = declar.fit(spec, f"{d}/data.npz", f"{d}/m.keras", epochs=2, verbose=0)
        >>> len(history.history["loss"])
        2
    """
    preflight()  # a bad TF_CONFIG or KERAS_DISTRIBUTION_* variable is refused before keras starts
    from declar.fitting.run import train

    return train(source, data, out_path, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                 shuffle=shuffle, verbose=verbose, limits=limits)


def model_to_train(source: SpecSource | Spec | str | os.PathLike[str], limits: Limits
                   ) -> tuple[keras.Model, LoadedSpec]:
    """A spec built fresh, or an archive loaded to resume, with the spec that locates its problems."""
    path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else ""
    if is_archive(source):
        model = load(path, distribute=True, limits=limits)
        # An archive's embedded spec has no lines to point at: problems name the archive.
        loaded = LoadedSpec.bare(model.declar_spec, f"{path} (embedded spec)", archive=True)
    else:
        loaded = load_spec(source, limits)
        model = build(loaded, limits=limits)
    if not model.compiled:
        raise DataError(f"{path or 'the spec'} has no compile settings; add a compile: section to train it")
    return model, loaded


def train_located(model: keras.Model, loaded: LoadedSpec, **options: Any) -> keras.callbacks.History:
    """``model.fit``, with a failure that validation could not foresee (a spec function that does
    not trace on the model's outputs, an optimizer setting Keras refuses at its first step) located
    in the spec as a `BuildError` instead of escaping as Keras's exception."""
    try:
        return model.fit(**options)
    except FunctionCallError as err:
        where, message = ("functions", err.function, "expr"), str(err)
        hint = "the function fails on the model's outputs"
    except Exception as err:  # Keras and the backends raise many types; all mean "this spec does not train"
        where, message = ("compile",), f"training failed: {type(err).__name__}: {err}"
        hint = "the compile settings do not work with this model and data"
    if not loaded.source_text:
        raise BuildError([loaded.problem(where, first_line(message), hint, "training")])
    raise BuildError([_locate(loaded, where, message, hint)])


def inspect(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """What a declar archive holds, read without keras (see `declar inspect`); member sizes are
    checked against ``limits`` before anything is read."""
    token = current_limits.set(limits)
    try:
        return inspect_archive(path)
    finally:
        current_limits.reset(token)


# -- versions of a model: diff and weight transfer ---------------------------------------------

if TYPE_CHECKING:
    from declar.transfer import TransferReport


def diff(old: SpecSource | Spec | LoadedSpec, new: SpecSource | Spec | LoadedSpec, *, build: bool | None = None,
         limits: Limits = DEFAULT_LIMITS) -> SpecDiff:
    """The semantic difference of two specs or .keras archives (see `declar.compare`).

    ``build`` (default: when Keras is installed) adds parameter counts and output shapes.

    Example:
        >>> import declar.api
        >>> d = declar.api.diff("specs/examples/versions/classifier_v1.yaml",
        ...                     "specs/examples/versions/classifier_v2.yaml", build=False)
        >>> [item.render() for item in d.nodes][:2]
        ['> hidden -> bottleneck (Dense)', '+ norm (LayerNormalization): {inputs: bottleneck}']
    """
    loaded = [LoadedSpec.bare(x) if isinstance(x, Spec) else x if isinstance(x, LoadedSpec) else read_spec(x, limits)
              for x in (old, new)]
    labels = [os.fspath(x) if isinstance(x, (str, os.PathLike)) else y.origin.file
              for x, y in zip((old, new), loaded, strict=True)]
    result = diff_specs(loaded[0].spec, loaded[1].spec, labels[0], labels[1])
    if build is None:
        build = keras_available()
    if build:
        compare_builds(result, _diffed_model(old, loaded[0], limits), _diffed_model(new, loaded[1], limits))
    return result


def _diffed_model(source: SpecSource | Spec | LoadedSpec, loaded: LoadedSpec, limits: Limits) -> keras.Model:
    """One side of a diff, built: an archive as it loads, a spec from its seed (problems located
    in its kept document)."""
    if isinstance(source, (str, os.PathLike)) and is_archive(source):
        return load(source, compile=False, limits=limits)
    return build(loaded, compile=False, distribute=False, limits=limits)


def transfer_weights(model: keras.Model, old_model: keras.Model) -> TransferReport:
    """Copy into ``model`` the weights of every layer of ``old_model`` with the same name and shapes.

    The other layers keep their seeded initial weights; the `TransferReport` says which were
    carried, which are new and which did not fit (and why).
    """
    from declar.transfer import transfer_weights as transfer

    return transfer(model, old_model)


def transfer(spec: SpecSource | Spec, weights_from: str | os.PathLike[str], out_path: str | os.PathLike[str],
             *, limits: Limits = DEFAULT_LIMITS) -> TransferReport:
    """Build ``spec``, copy the fitting weights of the archive ``weights_from``, save to ``out_path``."""
    model = build(spec, limits=limits)
    report = transfer_weights(model, load(weights_from, compile=False, limits=limits))
    save(model, out_path, limits=limits)
    return report


# -- serving formats ---------------------------------------------------------------------------

if TYPE_CHECKING:
    from declar.exporting import ExportReport


def export(source: SpecSource | str | os.PathLike[str], out_path: str | os.PathLike[str], *, format: str,
           verify: bool = True, batch_size: int | None = None, limits: Limits = DEFAULT_LIMITS) -> ExportReport:
    """Export a spec or archive as ``format`` (saved_model, onnx, litert), checked in its own runtime
    in a fresh process (see `declar.exporting`); the batch dimension stays dynamic unless ``batch_size`` fixes it.

    Example:
        >>> import declar, tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "m.onnx")
        >>> declar.export("specs/keras_guide/custom_build.yaml", out, format="onnx").verification.passed
        True
    """
    from declar.exporting import export as export_model

    return export_model(source, out_path, format=format, verify=verify, batch_size=batch_size, limits=limits)


__all__ = ["BuildError", "DataError", "DeclarError", "Spec", "SpecError", "build", "data_names", "diff", "export",
           "fit", "inspect", "load", "load_spec", "save", "transfer", "transfer_weights"]
# -- existing Keras models: import ---------------------------------------------------------

if TYPE_CHECKING:
    from declar.importer import ImportReport


def import_model(model: str | os.PathLike[str] | keras.Model, out: str | os.PathLike[str], *,
                 archive: str | os.PathLike[str] | None = None, schema: str | None = None,
                 fresh_process: bool = True) -> ImportReport:
    """Write the spec of an existing Keras model (a .keras file or a model object) and the archive
    built from it with the model's weights, checked to predict bit-identically (see `declar.importer`).

    A model holding custom Python code (Lambda layers, custom classes, a subclassed model) is
    refused with an `ImportRefused` naming each such layer; a file is surveyed before it is loaded.

    Example:
        >>> import declar, keras, tempfile, os
        >>> x = keras.Input((4,), name="x")
        >>> m = keras.Model(x, keras.layers.Dense(2, name="head")(x))
        >>> report = declar.import_model(m, os.path.join(tempfile.mkdtemp(), "m.yaml"), fresh_process=False)
        >>> report.layers
        ['head']
    """
    from declar.importer import import_model as run

    return run(model, out, archive=archive, schema=schema, fresh_process=fresh_process)


__all__ = ["BuildError", "DataError", "DeclarError", "Spec", "SpecError", "build", "data_names", "diff", "fit",
           "import_model", "inspect", "load", "load_spec", "save", "transfer", "transfer_weights"]
