"""`denoise --passes auto`: a second pass weighted by how much noise the first one removed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model_files import tflite_model
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.data.imageio import read_image, to_float, write_image
from mobiledenoise.deploy.adaptive import (HIGH, LOW, THRESHOLDS, NoiseAdaptiveDenoiser,
                                           parse_passes, second_pass_weight, with_passes)
from mobiledenoise.errors import UserError

runner = CliRunner()
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


class _HalfwayToFlat:
    """A stand-in denoiser that moves every pixel halfway to mid-grey; counts its calls."""

    name = "halfway"

    def __init__(self):
        self.calls = 0

    def denoise(self, image, tile=None, overlap=32, **kwargs):
        self.calls += 1
        image = to_float(image)
        return (image + 0.5) / 2


def test_weight_is_zero_below_low_one_above_high_and_moves_smoothly():
    removed = np.linspace(0, 30, 3001)
    weights = np.array([second_pass_weight(r) for r in removed])
    assert np.all(weights[removed <= LOW] == 0) and np.all(weights[removed >= HIGH] == 1)
    assert np.all(np.diff(weights) >= 0)
    assert np.max(np.diff(weights)) <= (removed[1] - removed[0]) / (HIGH - LOW) + 1e-9


def test_a_first_pass_that_removes_little_is_the_whole_answer():
    base = _HalfwayToFlat()
    image = np.full((40, 48, 3), 0.5 + 4 / 255, np.float32)  # first pass removes std 0
    out = NoiseAdaptiveDenoiser(base).denoise(image)
    assert base.calls == 1
    np.testing.assert_allclose(out, (image + 0.5) / 2)


def test_heavy_removal_blends_in_the_second_pass_by_its_weight():
    rng = np.random.default_rng(0)
    # halfway to grey removes half the noise: about (LOW + HIGH) / 2, inside the ramp
    noise = (LOW + HIGH) / 255
    image = np.clip(0.5 + rng.normal(0, noise, (64, 64, 3)), 0, 1).astype(np.float32)
    base = _HalfwayToFlat()
    adaptive = NoiseAdaptiveDenoiser(base)
    out = adaptive.denoise(image)
    once = (image + 0.5) / 2
    removed = float(np.std(image[::4] - once[::4]) * 255)
    weight = second_pass_weight(removed)
    assert base.calls == 2 and 0 < weight < 1 and adaptive.last_weight == pytest.approx(weight)
    np.testing.assert_allclose(out, once + weight * ((once + 0.5) / 2 - once), atol=1e-6)


def test_auto_wraps_shipped_models_with_their_own_thresholds_and_runs_others_once():
    base = _HalfwayToFlat()
    for model in (None, "default", "fast"):
        wrapped = with_passes(base, "auto", model)
        assert (wrapped.low, wrapped.high) == THRESHOLDS[model or "default"]
    for name, thresholds in THRESHOLDS.items():  # what adaptive_passes.py measured
        measured = json.loads((RESULTS / f"adaptive-passes-{name}-vm.json").read_text())
        assert thresholds == (measured["low"], measured["high"]), name
    assert with_passes(base, "auto", "mine.tflite") is base
    assert with_passes(base, "1", "default") is base


@pytest.mark.parametrize("text", ["2", "0", "", "twice"])
def test_bad_passes_is_refused(text):
    with pytest.raises(UserError, match="expected --passes auto or 1"):
        parse_passes(text)


def test_cli_bad_passes_exits_2_with_one_line_and_writes_nothing(tmp_path):
    write_image(tmp_path / "in.png", np.zeros((16, 16, 3), np.uint8))
    done = runner.invoke(app, ["denoise", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"),
                               "--model", str(tflite_model("identity")), "--passes", "3"])
    assert done.exit_code == 2, done.output
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: expected --passes"), done.output
    assert not (tmp_path / "out").exists()


def _psnr(output: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((output - to_float(clean)) ** 2)))


def test_shipped_default_second_pass_helps_phone_noise_and_leaves_a_clean_photo(shared_data):
    # sidd_mini's SIDD blocks are validation data: this checks the shipped behaviour, the
    # thresholds were chosen on training-side photos (benchmarks/adaptive_passes.py).
    from mobiledenoise.deploy.resolve import resolve_denoiser

    model = resolve_denoiser("default", threads=2)
    adaptive = NoiseAdaptiveDenoiser(model)
    name = "nafnetpd_val_ValidationBlocksSrgb_3.png"
    noisy = read_image(shared_data / "sidd_mini" / "noisy" / name)
    clean = read_image(shared_data / "sidd_mini" / "clean" / name)
    one, auto = model.denoise(noisy), adaptive.denoise(noisy)
    assert adaptive.last_weight == 1.0
    assert _psnr(auto, clean) > _psnr(one, clean) + 0.5
    photo = read_image(sorted((shared_data / "clean_photos" / "kodak24").glob("*.png"))[0])
    np.testing.assert_array_equal(adaptive.denoise(photo), model.denoise(photo))
    assert adaptive.last_weight == 0.0


def test_cli_default_runs_the_second_pass_and_passes_1_does_not(tmp_path, shared_data):
    name = "nafnetpd_val_ValidationBlocksSrgb_3.png"
    clean = read_image(shared_data / "sidd_mini" / "clean" / name)
    scores = {}
    for passes in ("auto", "1"):
        out = tmp_path / passes
        done = runner.invoke(app, ["denoise", str(shared_data / "sidd_mini" / "noisy" / name),
                                   "-o", str(out), "--passes", passes])
        assert done.exit_code == 0, done.output
        scores[passes] = _psnr(to_float(read_image(out / name)), clean)
    assert scores["auto"] > scores["1"] + 0.5, scores


@pytest.mark.parametrize("model", sorted(THRESHOLDS))
def test_thresholds_are_the_ones_the_benchmark_chose(model):
    # benchmarks/adaptive_passes.py measures with the gate's own removed_std; the shipped
    # thresholds must be what its committed run chose.
    import json
    from pathlib import Path

    result = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / \
        f"adaptive-passes-{model}-vm.json"
    chosen = json.loads(result.read_text())
    assert THRESHOLDS[model] == (chosen["low"], chosen["high"])
