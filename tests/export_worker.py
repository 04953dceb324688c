"""Fresh-process worker for the export tests: export many specs to one format, unverified, in one process.

Usage: python export_worker.py FORMAT OUT_DIR [--batch-size N] SPEC...

For each spec: `declar.exporting.export(..., verify=False)` (a refusal is recorded as its rendered
problems), then the seeded feeds of `declar.exporting.check` and Keras's predictions on them, so
that the test can check every artifact in one run of the runtime worker. Writes OUT_DIR/results.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def main(fmt: str, out_dir: str, specs: list[str]) -> None:
    batch_size = None
    if specs[:1] == ["--batch-size"]:
        batch_size, specs = int(specs[1]), specs[2:]
    import declar
    from declar.exporting import FORMATS, export
    from declar.exporting.check import batches_for, keras_outputs, seeded_feeds, write_feeds

    out = Path(out_dir)
    results = []
    for spec in specs:
        stem = Path(spec).stem
        artifact = out / (stem + (FORMATS[fmt].suffix or ".savedmodel"))
        started = time.perf_counter()
        try:
            report = export(spec, artifact, format=fmt, verify=False, batch_size=batch_size)
        except declar.ExportError as err:
            results.append({"spec": spec, "refused": [p.render() for p in err.problems],
                            "seconds": time.perf_counter() - started})
            continue
        model = declar.build(spec, compile=False)  # the same weights: built from the spec's seed
        batches = batches_for(batch_size)
        feeds = write_feeds(model, out, stem, batches)
        for path, xs in zip(feeds, seeded_feeds(model, batches), strict=True):
            expected = keras_outputs(model, xs)
            np.savez(path + ".keras.npz", names=np.array([n for n, _ in expected]),
                     **{f"output_{i}": a for i, (_, a) in enumerate(expected)})
        results.append({"spec": spec, "artifact": str(artifact), "feeds": feeds, "inputs": len(model.inputs),
                        "batches": list(batches), "versions": report.versions,
                        "seconds": time.perf_counter() - started})
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
