"""``python -m declar``: the same command line as ``declar``."""

from declar.cli import app

app(prog_name="declar")
