"""`declar save --verify`: load a freshly written archive in another process and compare predictions.

The probe builds the spec from its seed and loads the archive in a new Python process (so nothing
cached in this one can hide a missing hook), feeds both the same inputs and requires identical
predictions and the same weights. The inputs are made to suit the model rather than a fixed
guess: unknown dimensions are `UNKNOWN_DIM` long (enough for strided convolutions and pooling),
and integer inputs hold ids below the vocabulary size of the layers that read them (an
`Embedding`'s ``input_dim``, a `CategoryEncoding`'s ``num_tokens``), spread over that range, so
that every row of an embedding can take part, not only row 0; string inputs hold the words of
the vocabulary of the layer that reads them (a `StringLookup`'s) and one word outside it.

Example:
    >>> import declar, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> declar.save("specs/keras_guide/custom_build.yaml", out)
    >>> verify_archive("specs/keras_guide/custom_build.yaml", out)  # raises VerifyError on a mismatch
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

from declar.errors import VerifyError
from declar.limits import DEFAULT_LIMITS, Limits

UNKNOWN_DIM = 32
"""The length given to a dimension the spec leaves unknown (``null``)."""
INTEGER_RANGE = 2
"""Integer inputs that no layer bounds hold 0 and 1."""
_ID_ATTRIBUTES = ("input_dim", "num_tokens")


def probe_inputs(model: Any, batch: int = 2, seed: int = 0) -> list[Any]:
    """Arrays for each input of ``model``, shaped and valued as its layers accept them.

    Example:
        >>> import declar
        >>> [x.shape for x in probe_inputs(declar.build("specs/examples/text_classifier.yaml"))]
        [(2, 12)]
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = [batch] + [d or UNKNOWN_DIM for d in tensor.shape[1:]]
        dtype = np.dtype(str(tensor.dtype)) if str(tensor.dtype) != "string" else np.dtype(object)
        if dtype.kind in "iu":
            arrays.append(rng.integers(0, _id_bound(model, tensor), size=shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.random(shape) < 0.5)
        elif dtype.kind == "O":
            # Words of the vocabulary that reads the input (a StringLookup's), and one outside it, so
            # that the lookup's every row can take part; digits when no layer has a vocabulary.
            vocabulary = _vocabulary(model, tensor)
            words = [*vocabulary, "<not in the vocabulary>"] if vocabulary else [str(v) for v in range(9)]
            arrays.append(np.array([words[i] for i in rng.integers(0, len(words), size=shape).ravel()],
                                   dtype=object).reshape(shape))
        else:
            arrays.append(rng.random(shape).astype(dtype))
    return arrays


def _readers(model: Any, tensor: Any) -> list[Any]:
    """The layers of ``model`` that take ``tensor`` as a direct input."""
    return [layer for layer in model.layers for node in getattr(layer, "_inbound_nodes", [])
            if any(t is tensor for t in node.input_tensors)]


def _vocabulary(model: Any, tensor: Any) -> list[str]:
    """The string vocabulary of the first layer reading ``tensor`` that has one (empty when none)."""
    for layer in _readers(model, tensor):
        vocabulary = layer.get_vocabulary() if hasattr(layer, "get_vocabulary") else []
        words = [str(w) for w in vocabulary if isinstance(w, str) and w not in ("", "[UNK]")]
        if words:
            return words
    return []


def _id_bound(model: Any, tensor: Any) -> int:
    """The smallest vocabulary size among the layers that read ``tensor`` directly."""
    bounds = [int(v) for layer in _readers(model, tensor) for a in _ID_ATTRIBUTES
              if isinstance(v := getattr(layer, a, None), int) and v > 0]
    return min(bounds, default=INTEGER_RANGE)


def compare(spec_path: str, archive: str, limits: Limits) -> str:
    """Build ``spec_path`` and load ``archive`` in this process; "ok" or what differs (the probe's body)."""
    import numpy as np

    import declar

    built = declar.build(spec_path, limits=limits)
    loaded = declar.load(archive, limits=limits)
    if len(built.weights) != len(loaded.weights):
        return f"the archive has {len(loaded.weights)} weights, a fresh build {len(built.weights)}"
    for w, v in zip(built.weights, loaded.weights, strict=True):
        if tuple(w.shape) != tuple(v.shape) or not np.array_equal(np.asarray(w), np.asarray(v), equal_nan=True):
            return f"weight {v.path} differs from a fresh build"
    xs = probe_inputs(built)
    feed = xs if len(xs) > 1 else xs[0]
    a, b = built.predict(feed, verbose=0), loaded.predict(feed, verbose=0)

    def flat(y: Any) -> list[Any]:
        return [y[k] for k in sorted(y)] if isinstance(y, dict) else list(y) if isinstance(y, (list, tuple)) else [y]

    if not all(np.array_equal(u, v, equal_nan=True) for u, v in zip(flat(a), flat(b), strict=True)):
        return "predictions of the loaded archive differ from a fresh build"
    return "ok"


def verify_archive(spec: str | os.PathLike[str], archive: str | os.PathLike[str],
                   target: str | os.PathLike[str] | None = None, limits: Limits = DEFAULT_LIMITS,
                   timeout: float = 600.0) -> None:
    """Run `compare` in a fresh process; raise `VerifyError` unless it says "ok".

    ``target`` is the path the archive is meant for, named in the message (the archive checked
    may be a temporary file that is renamed there only after this returns).
    """
    argv = [sys.executable, "-m", "declar.verify", os.fspath(spec), os.fspath(archive),
            json.dumps(dataclasses.asdict(limits))]
    name = target if target is not None else archive
    where = (f"{name} was not written (the previous file, if any, is unchanged)" if target is not None
             else f"{name} is left as it is")
    try:
        probe = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise VerifyError(f"verification failed: the fresh process took more than {timeout:.0f} s; {where}") from None
    last = [line for line in (probe.stdout + probe.stderr).strip().splitlines() if line.strip()]
    verdict = probe.stdout.strip().splitlines()[-1] if probe.stdout.strip() else ""
    if probe.returncode != 0 or verdict != "ok":
        reason = verdict if probe.returncode == 0 else (last[-1] if last else f"exit code {probe.returncode}")
        raise VerifyError(f"verification failed: {reason[:500]}; {where}")


def _main(argv: list[str]) -> int:
    spec_path, archive, limits = argv
    import declar  # noqa: F401  (registers declar's Keras classes before anything loads)

    print(compare(spec_path, archive, Limits(**json.loads(limits))))
    return 0


if __name__ == "__main__":  # python -m declar.verify SPEC ARCHIVE LIMITS_JSON
    sys.exit(_main(sys.argv[1:]))
