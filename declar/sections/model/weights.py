"""Weights and arrays whose size the spec alone decides, checked at validate against the limits.

Keras decides most weight shapes only when a layer is built on its input, so the budget in
`declar.keras.budget` is what guarantees that nothing over the limits is allocated. But the
largest weights of real models are decided by a layer's arguments and the width of its input,
which a spec often states outright: an `Embedding` of ``input_dim x output_dim``, a `Dense` of
``width x units`` after an input or another layer of known width, a convolution's kernel of
``prod(kernel_size) x channels x filters`` (channels_last). Those are refused here, with a located
problem, so `declar validate` (and a pre-commit hook) catches the attack or the typo that build
would refuse. Widths are followed through layers that keep the last axis (dropout, normalization,
pooling, padding, cropping), convolutions (``filters``) and Dense/Embedding.

Some arrays escape the build-time budget altogether, and only validate can refuse them (archives
are validated by the same checks, so load is covered): a padded lookup's ``idf_weights`` (numpy
and `tf.Variable` at construction, not ``add_weight``), the lists and tuples a lookup or
TextVectorization makes at construction, MelSpectrogram's mel matrix and STFT frames computed at
each call. Outputs the spec alone sizes (RepeatVector, CategoryEncoding, a padded lookup, Hashing)
are refused here too; every other output is checked per example at build (`declar.keras.model`).

Example:
    >>> from declar.limits import Limits
    >>> dict(weight_shapes("Embedding", {"input_dim": 10, "output_dim": 4}, None))
    {'embeddings': [10, 4]}
    >>> dict(weight_shapes("Dense", {"units": 3}, 8))
    {'kernel': [8, 3], 'bias': [3]}
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from declar.errors import Problem
from declar.limits import Limits
from declar.spec.loaded import LoadedSpec
from declar.spec.shapes import shape_errors

# Layers whose output has the width of their input (the last axis is kept).
WIDTH_KEEPING = frozenset({
    "Activation", "ActivityRegularization", "AlphaDropout", "BatchNormalization", "Dropout", "ELU",
    "GaussianDropout", "GaussianNoise", "GroupNormalization", "LayerNormalization", "LeakyReLU", "Masking",
    "PReLU", "ReLU", "RMSNormalization", "Softmax", "SpatialDropout1D", "UnitNormalization",
    # These keep the channel axis, which is the last one unless data_format is channels_first.
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "SpatialDropout2D",
    "SpatialDropout3D", "RepeatVector",
})

# Convolutions by the rank of their kernel; their output width is `filters` (depthwise: in x multiplier).
CONVOLUTIONS = {
    "Conv1D": 1, "Conv2D": 2, "Conv3D": 3, "Conv1DTranspose": 1, "Conv2DTranspose": 2, "Conv3DTranspose": 3,
    "SeparableConv1D": 1, "SeparableConv2D": 2, "DepthwiseConv1D": 1, "DepthwiseConv2D": 2,
}

# Lookup layers whose `max_tokens` sizes the output (and tf_idf's `idf_weights`) with pad_to_max_tokens.
LOOKUPS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _channels_last(args: dict[str, Any]) -> bool:
    return args.get("data_format") in (None, "channels_last")


def _kernel_size(args: dict[str, Any], rank: int) -> list[int] | None:
    given = args.get("kernel_size")
    sizes = [given] * rank if _size(given) is not None else given
    if not isinstance(sizes, list) or len(sizes) != rank or any(_size(s) is None for s in sizes):
        return None
    return sizes


def _conv_weights(layer: str, args: dict[str, Any], width: int | None) -> Iterator[tuple[str, list[int]]]:
    kernel = _kernel_size(args, CONVOLUTIONS[layer])
    if kernel is None or width is None or not _channels_last(args):
        return  # Keras sizes it from the input: the build-time budget refuses it there
    filters, multiplier = _size(args.get("filters")), _size(args.get("depth_multiplier", 1))
    use_bias = args.get("use_bias", True)
    if layer.startswith("Depthwise"):
        if multiplier is not None:
            yield "kernel", [*kernel, width, multiplier]
            if use_bias:
                yield "bias", [width * multiplier]
        return
    if filters is None:
        return
    if layer.startswith("Separable"):
        if multiplier is not None:
            yield "depthwise_kernel", [*kernel, width, multiplier]
            yield "pointwise_kernel", [*([1] * len(kernel)), width * multiplier, filters]
    else:
        groups = _size(args.get("groups", 1))
        inputs = width // groups if groups else width  # Keras refuses widths its groups do not divide
        yield "kernel", [*kernel, inputs, filters] if "Transpose" not in layer else [*kernel, filters, width]
    if use_bias:
        yield "bias", [filters]


def weight_shapes(layer: str, args: dict[str, Any], width: int | None) -> Iterator[tuple[str, list[int]]]:
    """The variables of a built-in layer that its arguments (and its input's ``width``) decide.

    Example:
        >>> dict(weight_shapes("Conv2D", {"filters": 4, "kernel_size": 3}, 2))
        {'kernel': [3, 3, 2, 4], 'bias': [4]}
    """
    if layer == "Embedding":
        rows, columns = _size(args.get("input_dim")), _size(args.get("output_dim"))
        if rows is not None and columns is not None:
            yield "embeddings", [rows, columns]
    elif layer == "Dense":
        units = _size(args.get("units"))
        if units is None:
            return
        if width is not None:
            yield "kernel", [width, units]
        if args.get("use_bias", True):
            yield "bias", [units]
    elif layer in CONVOLUTIONS:
        yield from _conv_weights(layer, args, width)
    elif layer in LOOKUPS and _padded_tokens(layer, args) is not None and _output_mode(args) == "tf_idf":
        # Not an add_weight: Keras pads idf_weights to max_tokens with numpy and wraps them in a
        # tf.Variable when the layer is constructed, where the build-time budget does not see it.
        yield "idf_weights", [_padded_tokens(layer, args) or 0]


def _output_mode(args: dict[str, Any]) -> str:
    mode = args.get("output_mode", "int")
    return {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(mode, mode) if isinstance(mode, str) else "int"


def _padded_tokens(layer: str, args: dict[str, Any]) -> int | None:
    """A lookup's output depth when ``pad_to_max_tokens`` makes it ``max_tokens`` (not 'int' mode)."""
    if layer not in LOOKUPS or args.get("pad_to_max_tokens") is not True or _output_mode(args) == "int":
        return None
    return _size(args.get("max_tokens"))


def computed_shapes(layer: str, args: dict[str, Any], width: int | None) -> Iterator[tuple[str, list[int], str]]:
    """Arrays a built-in layer makes from its arguments alone, which no weight budget sees: its
    output (per example), or an array Keras computes at construction or at each call; each with
    the argument that sizes it.

    The build-time check of every output's static shape (`declar.keras.model`) covers every layer;
    these outputs are refused at validate because the spec alone sizes them, and the other arrays
    exist before any output does (or are not outputs), so only validate can refuse them.

    Example:
        >>> list(computed_shapes("RepeatVector", {"n": 3}, 4))
        [('output per example', [3, 4], 'n')]
    """
    if layer == "RepeatVector":
        n = _size(args.get("n"))
        if n is not None:
            yield "output per example", [n, width if width is not None else 1], "n"
    elif layer == "CategoryEncoding":
        tokens = _size(args.get("num_tokens"))
        if tokens is not None:
            yield "output per example", [tokens], "num_tokens"
    elif layer in LOOKUPS:
        padded = _padded_tokens(layer, args)
        if padded is not None:
            yield "output per example", [padded], "max_tokens"
        length = _size(args.get("output_sequence_length")) if layer == "TextVectorization" else None
        if length is not None:
            yield "output per example", [length], "output_sequence_length"
        ngrams = _size(args.get("ngrams")) if layer == "TextVectorization" else None
        if ngrams is not None:  # TextVectorization makes tuple(range(1, ngrams + 1)) when constructed
            yield "ngram widths (a tuple made at construction)", [ngrams], "ngrams"
        oov = _size(args.get("num_oov_indices")) if layer != "TextVectorization" else None
        if oov is not None:  # set_vocabulary makes a list of num_oov_indices tokens when constructed
            yield "out-of-vocabulary tokens (a list made at construction)", [oov], "num_oov_indices"
    elif layer in ("Hashing", "HashedCrossing"):
        bins = _size(args.get("num_bins"))
        if bins is not None and _output_mode(args) != "int":
            yield "output per example", [bins], "num_bins"
    elif layer == "MelSpectrogram":
        fft, bins = _size(args.get("fft_length", 2048)), _size(args.get("num_mel_bins", 128))
        if fft is not None and bins is not None:  # Keras computes it in every call, from these two alone
            yield "mel weight matrix (computed at each call)", [fft // 2 + 1, bins], "num_mel_bins"
        stride = _size(args.get("sequence_stride", 512))
        if fft is not None and stride and width is not None:
            # The STFT's frames of fft_length samples, the input padded by fft_length // 2 on each side
            # (center=True); much larger than the output when the stride is small.
            frames = 1 + (width + 2 * (fft // 2) - fft) // stride
            yield "STFT frames per example (computed at each call)", [frames, fft], "sequence_stride"


def output_width(layer: str, args: dict[str, Any], width: int | None) -> int | None:
    """The last axis of a built-in layer's output, where the spec decides it."""
    if layer == "Dense":
        return _size(args.get("units"))
    if layer == "Embedding":
        return _size(args.get("output_dim"))
    if layer in CONVOLUTIONS:
        if not _channels_last(args):
            return None
        if layer.startswith("Depthwise"):
            multiplier = _size(args.get("depth_multiplier", 1))
            return width * multiplier if width is not None and multiplier is not None else None
        return _size(args.get("filters"))
    if layer in WIDTH_KEEPING and layer[-2:] in ("1D", "2D", "3D") and not _channels_last(args):
        return None
    return width if layer in WIDTH_KEEPING else None


# The argument a problem about a weight points at: the one that makes it large (the first one given).
_BLAME: dict[str, tuple[str, ...]] = {
    "Dense": ("units",), "Embedding": ("input_dim",),
    **{lookup: ("max_tokens",) for lookup in LOOKUPS},
    **{conv: ("depth_multiplier", "kernel_size") if conv.startswith("Depthwise") else ("filters",)
       for conv in CONVOLUTIONS},
}


def _blamed(layer: str, args: dict[str, Any]) -> str | None:
    return next((a for a in _BLAME.get(layer, ()) if a in args), None)


def check_weights(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    spec, doc = loaded.spec, loaded.document
    """Each weight over ``max_variable_elements``, and the first layer where the model's known
    weights together pass ``max_model_elements``."""
    widths: dict[str, int | None] = {i.name: (_size(i.shape[-1]) if i.shape else None) for i in spec.inputs}
    creators = {n.name: n for n in spec.nodes if n.layer is not None}
    total, reported_total = 0, False
    for node in spec.nodes:  # nodes listed before their inputs get an unknown width: a lower bound
        source = creators.get(node.shares or "") if node.shares else node
        width = widths.get(node.inputs[0]) if len(node.inputs) == 1 else None
        if source is None or source.layer in spec.layer_types or source.layer is None:
            widths[node.name] = None
            continue
        widths[node.name] = output_width(source.layer, source.args, width)
        if node.shares:
            continue  # a shared layer's weights were counted where it was created
        args_path = node.args_path
        layer = node.layer or ""
        refused_here = False
        for variable, shape in weight_shapes(layer, node.args, width):
            blame = _blamed(layer, node.args)
            path = (*args_path, blame) if blame else node.path
            refused = list(shape_errors(shape, limits))
            for message, hint in refused:
                yield doc.problem(path, f"layer '{node.name}' ({layer}): variable '{variable}': {message}",
                                  hint, "too-many-elements")
            if refused:
                refused_here = True
                continue  # reported once, not again in the model's total
            total += math.prod(shape)
            if total > limits.max_model_elements and not reported_total:
                reported_total = True
                yield doc.problem(path, f"the model's weights reach {total:,} elements at layer '{node.name}', "
                                  f"over the limit of {limits.max_model_elements:,}",
                                  "raise Limits.max_model_elements if this is intended", "too-many-elements")
        if refused_here:
            continue  # a lookup's refused idf_weights already says what its output would say
        for what, shape, blame in computed_shapes(layer, node.args, width):
            path = (*args_path, blame) if blame in node.args else node.path
            for message, hint in shape_errors(shape, limits):
                yield doc.problem(path, f"layer '{node.name}' ({layer}): {what}: {message}",
                                  hint, "too-many-elements")
