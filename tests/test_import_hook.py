"""`import declar` is all a user of an archive needs, whichever of declar and keras comes first,
and it never imports keras by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import declar

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("hook") / "m.keras"
    declar.save(ROOT / "specs" / "keras_guide" / "custom_assets.yaml", path)
    return path


@pytest.mark.parametrize("imports", ["import declar; import keras", "import keras; import declar"])
def test_archive_loads_whatever_the_import_order(archive, imports):
    code = (f"{imports}\nm = keras.models.load_model({str(archive)!r})\n"
            "print(m.get_layer('layer_with_custom_assets').vocab)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "Mary had a little lamb."


def test_import_declar_does_not_import_keras():
    code = "import sys, declar; print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert proc.stdout.strip() == "[]"
