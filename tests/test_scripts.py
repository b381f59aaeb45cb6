"""Benchmark scripts refuse bad input like the CLI does: one `Error: ...` line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mobiledenoise.errors import UserError, run_script

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_run_script_turns_a_user_error_into_one_line_and_exit_2(capsys):
    def main():
        raise UserError("expected a thing, received another; pass the thing")

    with pytest.raises(SystemExit) as stop:
        run_script(main)
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == "Error: expected a thing, received another; pass the thing"
    with pytest.raises(SystemExit) as stop:
        run_script(lambda: 0)
    assert stop.value.code == 0


def test_benchmark_script_with_a_missing_model_exits_2_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "generalisation.py"),
                           str(tmp_path / "missing.tflite"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Error: expected a .tflite model file" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing written
