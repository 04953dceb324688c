"""Write every file declar generates from its code or from the installed Keras.

Run from the project root after changing the schema, the function table or the limits, or after
upgrading Keras::

    python -m devtools.generate

It writes declar/data/keras_catalog.json and schemas/keras-layers.schema.json (from the installed
Keras), docs/spec-reference.md (from the JSON Schema) and the README's function and limits tables.
tests/test_generated_files.py, tests/test_ops_table.py and tests/test_cli.py fail while any of
them is stale.
"""

from __future__ import annotations

from pathlib import Path

from declar.data import DATA_DIR
from declar.spec.catalog import CATALOG_FILE
from declar.spec.schema import LAYER_SCHEMA_FILE
from devtools import catalog, docs, layer_schema

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    keras_catalog = catalog.generate()
    files = {
        DATA_DIR / CATALOG_FILE: catalog.render(keras_catalog),
        (DATA_DIR / LAYER_SCHEMA_FILE).resolve(): layer_schema.render(keras_catalog),  # the symlink's target
        ROOT / "docs" / "spec-reference.md": docs.spec_reference(),
        ROOT / "README.md": docs.readme((ROOT / "README.md").read_text(encoding="utf-8")),
    }
    for path, content in files.items():
        path.write_text(content, encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
