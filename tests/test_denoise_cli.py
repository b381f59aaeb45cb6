"""`mobiledenoise denoise`: outputs, bit depth, orientation, skipping, and every refusal."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from model_files import tflite_model
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.data.imageio import read_image, write_image

runner = CliRunner()


def _rgb(h: int, w: int, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    top = 65535 if dtype == np.uint16 else 255
    return np.random.default_rng(seed).integers(0, top + 1, (h, w, 3)).astype(dtype)


def _denoise(*args: str, model: str = "identity"):
    return runner.invoke(app, ["denoise", *args, "--model", str(tflite_model(model))])


def test_identity_model_round_trips_8bit(tmp_path):
    image = _rgb(37, 53)
    write_image(tmp_path / "in" / "photo.jpg", image)
    done = _denoise(str(tmp_path / "in" / "photo.jpg"), "-o", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    assert "Denoised 1 of 1" in done.output
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "photo.png"),
                                  read_image(tmp_path / "in" / "photo.jpg"))


def test_16bit_in_gives_16bit_out(tmp_path):
    image = _rgb(40, 30, np.uint16)
    write_image(tmp_path / "deep.png", image)
    done = _denoise(str(tmp_path / "deep.png"), "-o", str(tmp_path / "out"), "--format", "tif")
    assert done.exit_code == 0, done.output
    out = read_image(tmp_path / "out" / "deep.tif")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, image)


def test_exif_orientation_is_applied(tmp_path):
    source = Image.fromarray(_rgb(20, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    source.save(tmp_path / "rotated.jpg", exif=exif)
    done = _denoise(str(tmp_path / "rotated.jpg"), "-o", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    assert read_image(tmp_path / "out" / "rotated.png").shape == (40, 20, 3)


def test_fixed_size_model_tiles_any_size(tmp_path):
    write_image(tmp_path / "a.png", _rgb(70, 101))
    done = _denoise(str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), model="fixed")
    assert done.exit_code == 0, done.output
    assert read_image(tmp_path / "out" / "a.png").shape == (70, 101, 3)


def test_folder_skips_non_images_and_unreadable_files(tmp_path):
    folder = tmp_path / "in"
    write_image(folder / "good.png", _rgb(16, 16))
    (folder / "notes.txt").write_text("hello")
    (folder / "broken.png").write_bytes(b"not a png")
    done = _denoise(str(folder), "-o", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    assert "skipped" in done.output and "notes.txt" in done.output and "broken.png" in done.output
    assert "Denoised 1 of 3 file(s)" in done.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]


def test_all_inputs_failing_exits_2(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff nothing")
    done = _denoise(str(tmp_path / "broken.jpg"), "-o", str(tmp_path / "out"))
    assert done.exit_code == 2 and "expected at least one readable image" in done.output


def test_existing_output_needs_overwrite(tmp_path):
    write_image(tmp_path / "a.png", _rgb(16, 16))
    write_image(tmp_path / "out" / "a.png", np.zeros((16, 16, 3), np.uint8))
    done = _denoise(str(tmp_path / "a.png"), "-o", str(tmp_path / "out"))
    assert done.exit_code == 2 and "which exists; pass --overwrite" in done.output
    assert read_image(tmp_path / "out" / "a.png").max() == 0  # untouched
    done = _denoise(str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--overwrite")
    assert done.exit_code == 0, done.output
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "a.png"), _rgb(16, 16))


@pytest.mark.parametrize(("setup", "message"), [
    ("out_is_file", "which is a file; pass a folder path to -o"),
    ("missing_input", "which does not exist; check the path"),
    ("same_stem", "would both write a.png"),
])
def test_bad_paths_exit_2(tmp_path, setup, message):
    write_image(tmp_path / "a.png", _rgb(16, 16))
    inputs, out = [str(tmp_path / "a.png")], tmp_path / "out"
    if setup == "out_is_file":
        out.write_text("x")
    elif setup == "missing_input":
        inputs.append(str(tmp_path / "missing.png"))
    else:
        write_image(tmp_path / "a.jpg", _rgb(16, 16))
        inputs.append(str(tmp_path / "a.jpg"))
    done = _denoise(*inputs, "-o", str(out))
    assert done.exit_code == 2 and message in done.output


def test_bad_models_exit_2(tmp_path, monkeypatch):
    import mobiledenoise.weights as weights

    write_image(tmp_path / "a.png", _rgb(16, 16))
    args = ["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")]
    (tmp_path / "model.h5").write_bytes(b"\x89HDF")
    cases = {
        str(tmp_path / "missing.tflite"): "does not exist",
        str(tmp_path / "model.h5"): "expected a .tflite model file",
        str(tflite_model("gray")): "expected a 1×H×W×3 (RGB) input tensor",
        "no_such_model": "registered model name",
    }
    for model, message in cases.items():
        done = runner.invoke(app, [*args, "--model", model])
        assert done.exit_code == 2 and message in done.output, (model, done.output)
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    done = runner.invoke(app, args)
    assert done.exit_code == 2 and "expected the shipped default model" in done.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_4000x3000_photo_in_tiles(tmp_path):
    yy, xx = np.mgrid[0:3000, 0:4000]
    image = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
    write_image(tmp_path / "big.png", image)
    done = _denoise(str(tmp_path / "big.png"), "-o", str(tmp_path / "out"), "--tile", "512")
    assert done.exit_code == 0, done.output
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "big.png"), image)
