"""PSNR/SSIM conventions and the Final Score against the report's Table 1."""

import numpy as np
import pytest
from typer.testing import CliRunner

from mobiledenoise.cli import app
from mobiledenoise.errors import UserError
from mobiledenoise.evaluate.metrics import final_score, psnr, ssim

# Team, PSNR, runtime (ms), Final Score — MAI 2021 Real Image Denoising, Table 1.
TABLE_1 = [
    ("NOAHTCV", 37.52, 39, 53.99),
    ("Megvii", 37.83, 84, 38.52),
    ("ENERZAi Research", 36.33, 11, 36.77),
    ("MOMA-Denoise", 37.37, 54, 31.67),
    ("ENERZAi Research *", 36.22, 23, 15.1),
    ("Mier", 36.34, 314, 1.31),
    ("GdAlgo", 37.84, 5019, 0.65),
]


@pytest.mark.parametrize("team,psnr_db,runtime_ms,expected", TABLE_1)
def test_final_score_reproduces_table_1(team, psnr_db, runtime_ms, expected):
    assert final_score(psnr_db, runtime_ms) == pytest.approx(expected, abs=0.01), team


def test_score_cli_prints_table_1_value():
    result = CliRunner().invoke(app, ["score", "--psnr", "37.52", "--runtime-ms", "39"])
    assert result.exit_code == 0
    assert result.output.strip() == "53.99"


def test_score_cli_refuses_zero_runtime_with_one_line():
    result = CliRunner().invoke(app, ["score", "--psnr", "37", "--runtime-ms", "0"])
    assert result.exit_code == 2
    assert "expected a positive runtime" in result.output
    assert "Traceback" not in result.output


def test_psnr_is_computed_on_8bit_over_all_channels():
    target = np.full((4, 4, 3), 100, np.uint8)
    output = target.copy()
    output[0, 0, 0] = 110  # one error of 10 over 48 values
    expected = 10 * np.log10(255**2 / (100 / 48))
    assert psnr(output, target) == pytest.approx(expected, abs=1e-9)


def test_float_output_is_rounded_and_clipped_like_an_8bit_png():
    target = np.full((8, 8, 3), 255, np.uint8)
    assert psnr(np.full((8, 8, 3), 1.2, np.float32), target) == 100.0  # clipped to 255
    # 0.4/255 rounds to 0: identical to the 8-bit zero image
    assert psnr(np.full((8, 8, 3), 0.4 / 255, np.float32), np.zeros((8, 8, 3), np.uint8)) == 100.0


def test_ssim_matches_scikit_image_channel_mean():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    b = np.clip(a + rng.normal(0, 10, a.shape), 0, 255).astype(np.uint8)
    per_channel = np.mean([structural_similarity(a[..., c], b[..., c], data_range=255) for c in range(3)])
    assert ssim(b, a) == pytest.approx(per_channel, abs=1e-9)


def test_shape_mismatch_is_a_user_error():
    with pytest.raises(UserError, match="one shape"):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_do_nothing_baseline_matches_the_data_readme(polyu_cropped):
    """shared/data/README.md: polyu_cropped noisy-vs-clean = 35.97 dB / 0.9088."""
    from mobiledenoise.data.pairs import find_pairs, load_pair

    scores = [load_pair(p) for p in find_pairs(polyu_cropped)[:100]]
    mean_psnr = np.mean([psnr(n, c) for n, c in scores])
    mean_ssim = np.mean([ssim(n, c) for n, c in scores])
    assert mean_psnr == pytest.approx(35.97, abs=0.01)
    assert mean_ssim == pytest.approx(0.9088, abs=0.0005)
