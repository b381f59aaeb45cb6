"""The CLI under hostile input (issue 15, items 7 and 9): a PNG header declaring 100000x100000,
an output folder under a file or in an unwritable place, a failing write: one `Error:` line,
exit code 2, no traceback and no partial file. And TF/absl INFO noise stays off stderr."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.data.imageio import read_image, write_image
from mobiledenoise.errors import UserError

runner = CliRunner()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring width x height RGB, with a few bytes of (too short) data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(bytes(1000))) + _chunk(b"IEND", b""))


def _rgb(h: int = 16, w: int = 16) -> np.ndarray:
    return (np.arange(h * w * 3).reshape(h, w, 3) % 251).astype(np.uint8)


def _assert_one_error(result, phrase: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # no traceback
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: expected"), result.output
    assert phrase in result.output, result.output


def test_image_declaring_10_gigapixels_is_refused_from_its_header(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb())
    with pytest.raises(UserError, match="megapixels"):
        read_image(bomb)
    out = tmp_path / "out"
    result = runner.invoke(app, ["denoise", str(bomb), "-o", str(out)])
    _assert_one_error(result, "megapixels")
    assert result.output.strip().count("\n") == 0, result.output  # the reason is the one line
    assert not out.exists() or list(out.iterdir()) == []


def test_output_folder_under_a_file_is_refused_before_any_work(tmp_path):
    write_image(tmp_path / "a.png", _rgb())
    (tmp_path / "existing_file").write_text("x")
    result = runner.invoke(app, ["denoise", str(tmp_path / "a.png"), "-o",
                                 str(tmp_path / "existing_file" / "sub")])
    _assert_one_error(result, "is a file")
    assert (tmp_path / "existing_file").read_text() == "x"


def test_unwritable_output_folder_is_refused(tmp_path):
    write_image(tmp_path / "a.png", _rgb())
    result = runner.invoke(app, ["denoise", str(tmp_path / "a.png"), "-o", "/sys/mdn-denoise-out"])
    _assert_one_error(result, "writable output folder")


def test_failing_write_is_one_line_and_leaves_no_file(tmp_path, monkeypatch):
    from PIL import Image

    def disk_full(self, fp, *args, **kwargs):
        open(fp, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    write_target = tmp_path / "out" / "a.png"
    with pytest.raises(UserError, match="No space left on device"):
        write_image(write_target, _rgb())
    assert list((tmp_path / "out").iterdir()) == []  # neither the file nor its temporary


def test_commands_keep_tensorflow_info_lines_off_stderr(tmp_path):
    """`export` imports TensorFlow; without --verbose its C++/absl INFO lines are hidden."""
    model = tmp_path / "m.tflite"
    command = [sys.executable, "-m", "mobiledenoise.cli", "export", "unet", "--precision", "fp32",
               "--size", "32x32", "-o", str(model)]
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    noise = ("oneDNN", "XNNPACK", "absl::InitializeLog", "cpu_feature_guard", "I0000", "W0000")
    assert not [line for line in quiet.stderr.splitlines() if any(n in line for n in noise)], quiet.stderr
