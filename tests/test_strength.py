"""`denoise --strength` and `--model default|fast`: the blend, its bounds, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from model_files import tflite_model
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.data.imageio import read_image, to_float, write_image
from mobiledenoise.deploy.strength import SteeredDenoiser, blend, parse_strength
from mobiledenoise.errors import UserError

runner = CliRunner()


class _Halving:
    """A stand-in denoiser whose correction is known: it halves every pixel."""

    name = "halving"

    def denoise(self, image, tile=None, overlap=32, **kwargs):
        from mobiledenoise.data.imageio import to_float

        return to_float(image) * 0.5


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 32, 3)).astype(np.uint8)


def test_strength_zero_returns_the_input_bit_exactly():
    image = _image()
    out = SteeredDenoiser(_Halving(), 0.0).denoise(image)
    np.testing.assert_array_equal(np.rint(out * 255).astype(np.uint8), image)


def test_strength_is_monotone_and_linear_in_the_correction():
    noisy = to_float(_image())
    outputs = [SteeredDenoiser(_Halving(), s).denoise(_image()) for s in (0, 0.5, 1, 1.5)]
    distances = [float(np.abs(o - noisy).mean()) for o in outputs]
    assert distances == sorted(distances) and distances[0] == 0.0
    np.testing.assert_allclose(distances[1] * 2, distances[2], rtol=1e-5)
    np.testing.assert_allclose(outputs[2], noisy * 0.5, atol=1e-7)  # 1 = the model as is


def test_blend_stays_in_range_when_pushed_past_one():
    noisy = np.full((4, 4, 3), 0.1, np.float32)
    assert blend(noisy, np.zeros_like(noisy), 4.0).min() == 0.0


@pytest.mark.parametrize("text", ["-1", "nan", "abc", "inf", "5", ""])
def test_bad_strength_is_refused(text):
    with pytest.raises(UserError, match="expected --strength"):
        parse_strength(text)


@pytest.mark.parametrize("text", ["-1", "nan", "abc"])
def test_cli_bad_strength_exits_2_with_one_line_and_writes_nothing(tmp_path, text):
    write_image(tmp_path / "in.png", _image())
    done = runner.invoke(app, ["denoise", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"),
                               "--model", str(tflite_model("identity")), "--strength", text])
    assert done.exit_code == 2
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: expected --strength"), done.output
    assert not (tmp_path / "out").exists()


def test_cli_strength_scales_a_real_models_correction(tmp_path):
    image = _image(1)
    write_image(tmp_path / "in.png", image)
    model = str(tflite_model("conv"))
    results = {}
    for strength in ("0", "0.5", "1"):
        out = tmp_path / f"out{strength}"
        done = runner.invoke(app, ["denoise", str(tmp_path / "in.png"), "-o", str(out),
                                   "--model", model, "--strength", strength])
        assert done.exit_code == 0, done.output
        results[strength] = read_image(out / "in.png").astype(np.float64)
    np.testing.assert_array_equal(results["0"], image)
    full = np.abs(results["1"] - image).mean()
    assert full > 1.0  # the conv model changes the image
    half = np.abs(results["0.5"] - image).mean()
    assert 0.2 * full < half < 0.8 * full  # exact halving is tested above, without clipping


def test_cli_unknown_model_and_misplaced_precision_exit_2(tmp_path):
    write_image(tmp_path / "in.png", _image())
    unknown = runner.invoke(app, ["denoise", str(tmp_path / "in.png"), "-o", str(tmp_path / "o"),
                                  "--model", "nosuch"])
    assert unknown.exit_code == 2 and "Error: expected" in unknown.output
    misplaced = runner.invoke(app, ["denoise", str(tmp_path / "in.png"), "-o",
                                    str(tmp_path / "o"), "--model",
                                    str(tflite_model("identity")), "--precision", "int8"])
    assert misplaced.exit_code == 2 and "only with a shipped model" in misplaced.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["default", "fast"])
def test_shipped_models_are_selectable_by_name(tmp_path, name):
    write_image(tmp_path / "in.png", _image())
    for precision in ("fp32", "int8"):
        out = tmp_path / f"{name}-{precision}"
        done = runner.invoke(app, ["denoise", str(tmp_path / "in.png"), "-o", str(out),
                                   "--model", name, "--precision", precision])
        assert done.exit_code == 0, done.output
        assert read_image(out / "in.png").shape == (24, 32, 3)
