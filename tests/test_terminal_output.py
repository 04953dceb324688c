"""What declar's commands print on a terminal: no framework start-up chatter, real warnings kept,
and ``python -m declar`` as the same command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from declar.startup_noise import filtered_stderr, is_startup_noise

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "examples" / "mnist_convnet.yaml"
# Lines TensorFlow 2.21 writes on every start on this kind of machine (copied from a real run).
TENSORFLOW_STARTUP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796149868.400126   31620 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "I0000 00:00:1796149868.400936   31620 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU "
    "will not be used.",
    "I0000 00:00:1796149868.491645   31620 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.",
    "E0000 00:00:1796149870.180189   31620 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)",
]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "KERAS_BACKEND": "tensorflow", **env})


def test_every_tensorflow_startup_line_is_recognised_and_a_real_warning_is_not():
    assert all(is_startup_noise(line) for line in TENSORFLOW_STARTUP)
    assert not is_startup_noise("UserWarning: The structure of `inputs` doesn't match the expected structure")
    assert not is_startup_noise("W0000 00:00:1 123 op_kernel.cc:1857] OP_REQUIRES failed: Invalid argument")


@pytest.mark.slow
def test_declar_build_prints_no_framework_noise_on_stderr():
    result = run(sys.executable, "-m", "declar", "build", str(SPEC))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "34,826 parameters" in result.stdout


def test_a_real_message_written_to_the_descriptor_still_reaches_the_user():
    code = ("import os, sys; from declar.startup_noise import filtered_stderr\n"
            "with filtered_stderr():\n"
            f"    os.write(2, {TENSORFLOW_STARTUP[2]!r}.encode() + b'\\n')\n"
            "    os.write(2, b'W0000 op_kernel.cc:1857] OP_REQUIRES failed\\n')\n"
            "    print('warning from python', file=sys.stderr)\n")
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0
    assert result.stderr == "W0000 op_kernel.cc:1857] OP_REQUIRES failed\nwarning from python\n"


def test_filtered_stderr_without_a_real_descriptor_leaves_the_stream_alone(capsys):
    with filtered_stderr():
        print("kept", file=sys.stderr)
    assert capsys.readouterr().err == "kept\n"


def test_python_dash_m_declar_is_the_command_line():
    result = run(sys.executable, "-m", "declar", "validate", str(SPEC))
    assert result.returncode == 0 and result.stderr == "1 spec valid\n"
    assert run(sys.executable, "-m", "declar", "--version").stdout.startswith("declar ")


def on_terminal(*args: str, columns: int = 100, **env: str) -> str:
    """What a command prints to a terminal (a pseudo-terminal ``columns`` wide)."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(args, stdout=follower, stderr=subprocess.DEVNULL, cwd=ROOT,
                               env={**os.environ, "COLUMNS": str(columns), "TERM": "xterm-256color",
                                    "KERAS_BACKEND": "tensorflow", **env})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the command ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    os.close(leader)
    return b"".join(chunks).decode()


def two_versions(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(SPEC.read_text())
    new.write_text(SPEC.read_text().replace("units: 10", "units: 12").replace("rate: 0.5", "rate: 0.4"))
    return old, new


def test_diff_is_coloured_on_a_terminal_and_plain_when_piped_or_no_color(tmp_path):
    old, new = two_versions(tmp_path)
    args = (sys.executable, "-m", "declar", "diff", "--no-build", str(old), str(new))
    coloured = on_terminal(*args)
    piped = run(*args).stdout
    assert "\x1b[33m" in coloured and "\x1b[1;31m" in coloured  # yellow changes, the old side in red
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured).replace("\r\n", "\n") == piped
    assert "\x1b[" not in piped and "~ dense (Dense): units: 10 -> 12" in piped
    # NO_COLOR (no-color.org) takes the colours away; bold may stay
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m", on_terminal(*args, NO_COLOR="1"))


@pytest.mark.slow
def test_build_table_wraps_in_a_narrow_terminal_instead_of_cutting():
    shown = on_terminal(sys.executable, "-m", "declar", "build", str(SPEC), columns=50)
    assert "…" not in shown
    assert "34,826 parameters" in shown and "conv2d_1" in shown.replace("│", " ").replace("\r\n", "\n")


def test_shell_completion_is_offered_and_completes_commands():
    script = run(sys.executable, "-m", "declar", "--show-completion", "bash")
    assert script.returncode == 0 and "_declar_completion()" in script.stdout
    completed = run(sys.executable, "-m", "declar", _DECLAR_COMPLETE="complete_bash", COMP_WORDS="declar val",
                    COMP_CWORD="1")
    assert "validate" in completed.stdout
