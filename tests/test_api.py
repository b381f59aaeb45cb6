"""`mobiledenoise.denoise(array)`: the command's pixels on arrays, any size and dtype, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from model_files import tflite_model
from typer.testing import CliRunner

import mobiledenoise
from mobiledenoise.cli import app
from mobiledenoise.data.imageio import from_float, read_image
from mobiledenoise.errors import UserError
from mobiledenoise.evaluate.metrics import psnr
from mobiledenoise.resources import sample_pair


@pytest.fixture(scope="module")
def sample():
    return tuple(read_image(path) for path in sample_pair())


def test_uint8_gives_the_denoise_commands_pixels_and_removes_noise(sample, tmp_path):
    noisy, clean = sample
    out = mobiledenoise.denoise(noisy)
    assert out.dtype == np.uint8 and out.shape == noisy.shape
    done = CliRunner().invoke(app, ["denoise", str(sample_pair()[0]), "-o", str(tmp_path)])
    assert done.exit_code == 0, done.output
    np.testing.assert_array_equal(out, read_image(tmp_path / "polyu_sample_noisy.png"))
    assert psnr(out, clean) > psnr(noisy, clean) + 1.0  # 33.1 -> 34.9 dB on this crop


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_in_float_out_in_unit_range(sample, dtype):
    noisy = sample[0]
    eight_bit = mobiledenoise.denoise(noisy)
    out = mobiledenoise.denoise((noisy / 255.0).astype(dtype))
    assert out.dtype == dtype and out.shape == noisy.shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    tolerance = 1 if dtype == np.float16 else 0  # float16 input is not exactly k/255
    assert np.abs(from_float(out).astype(int) - eight_bit).max() <= tolerance


def test_uint16_in_uint16_out(sample):
    noisy = sample[0]
    out = mobiledenoise.denoise(noisy.astype(np.uint16) * 257)
    assert out.dtype == np.uint16 and out.shape == noisy.shape
    eight_bit = mobiledenoise.denoise(noisy).astype(int)
    assert np.abs(out / 257.0 - eight_bit).max() <= 1.0
    assert len(np.unique(out % 257)) > 1  # real 16-bit output, not 8-bit values scaled


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (1000, 1500, 3)])
def test_any_size_is_denoised_in_tiles_of_the_model(shape):
    image = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    out = mobiledenoise.denoise(image, model="fast", precision="int8")
    assert out.shape == shape and out.dtype == np.uint8
    if shape[0] > 1:
        assert not np.array_equal(out, image)


def test_tile_argument_reaches_a_dynamic_model():
    """A 3×3-conv model (receptive radius 2): 32-px tiles give the untiled result."""
    image = np.random.default_rng(1).random((64, 96, 3)).astype(np.float32)
    model = tflite_model("conv")
    tiled = mobiledenoise.denoise(image, model=model, tile=32, overlap=16)
    whole = mobiledenoise.denoise(image, model=model, tile=None)
    assert np.abs(tiled - whole).max() < 1e-5
    assert np.abs(whole - image).max() > 0.1  # the model changes the image


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_strength_zero_returns_the_input_and_never_touches_it(sample, dtype):
    image = sample[0] if dtype == np.uint8 else (sample[0] / 255.0).astype(np.float32)
    before = image.copy()
    out = mobiledenoise.denoise(image, strength=0)
    np.testing.assert_array_equal(out, before)
    np.testing.assert_array_equal(image, before)
    assert not np.shares_memory(out, image)


def _rgb(*shape, dtype=np.uint8):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize("bad, words", [
    ("photo.png", ["expected an H×W×3 NumPy array", "received str", "np.asarray"]),
    (None, ["received NoneType"]),
    ([[1, 2, 3]], ["received list"]),
    (_rgb(8, 8), ["grayscale shape (8, 8)", "np.repeat"]),
    (_rgb(8, 8, 1), ["grayscale shape (8, 8, 1)"]),
    (_rgb(2, 8, 8, 3), ["received 4-D shape (2, 8, 8, 3)", "one image at a time"]),
    (_rgb(8, 8, 4), ["received shape (8, 8, 4)", "image[..., :3]"]),
    (_rgb(3, 8, 8), ["received shape (3, 8, 8)", "np.moveaxis"]),
    (_rgb(0, 8, 3), ["at least 1×1", "(0, 8, 3)"]),
    (_rgb(8, 8, 3, dtype=np.int64), ["received int64", "astype(np.uint8)"]),
    (np.full((8, 8, 3), 255.0), ["received values from 255 to 255", "image / 255"]),
    (np.full((8, 8, 3), np.nan, np.float32), ["received values from nan"]),
])
def test_bad_input_says_expected_received_and_fix(bad, words):
    with pytest.raises(ValueError) as caught:
        mobiledenoise.denoise(bad)
    assert isinstance(caught.value, UserError)  # the CLI's one-line error class too
    message = str(caught.value)
    assert message.startswith("expected") and "received" in message and "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("kwargs, words", [
    ({"model": "missing.tflite"}, ["missing.tflite which does not exist"]),
    ({"strength": 9}, ["from 0 (input unchanged) to 4", "received 9"]),
    ({"precision": "fp8"}, ["precision of fp32, fp16, int8", "received 'fp8'"]),
])
def test_bad_options_raise_value_errors_from_the_layers_below(kwargs, words):
    with pytest.raises(ValueError) as caught:
        mobiledenoise.denoise(_rgb(8, 8, 3), **kwargs)
    for word in words:
        assert word in str(caught.value)
