"""``python -m declar``: the same command line as ``declar``."""

from declar.cli import app

if __name__ == "__main__":  # not when a tool imports the module (pytest --doctest-modules)
    app(prog_name="declar")
