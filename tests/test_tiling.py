"""Tiled denoising: weights form a partition of unity, tiled == untiled, any size, no seams."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from mobiledenoise.deploy.tiling import axis_weights, count_tiles, denoise_tiled, tile_starts
from mobiledenoise.errors import UserError


def box5(x: np.ndarray) -> np.ndarray:
    """A 5×5 box filter: receptive radius 2, reflecting at the borders."""
    return uniform_filter(x, size=(5, 5, 1), mode="reflect")


@pytest.mark.parametrize(("length", "tile", "overlap"), [
    (1000, 512, 32), (512, 512, 32), (513, 512, 32), (100, 512, 32), (2000, 64, 0),
    (77, 40, 39), (300, 64, 16), (4000, 480, 32)])
def test_axis_weights_sum_to_one(length, tile, overlap):
    total = np.zeros(length)
    for start, profile in axis_weights(length, tile, overlap):
        assert len(profile) == min(tile, length) and profile.min() >= 0
        total[start:start + len(profile)] += profile
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_tile_starts_cover_with_overlap():
    starts = tile_starts(1000, 256, 32)
    assert starts[0] == 0 and starts[-1] == 1000 - 256
    assert all(b - a <= 256 - 32 for a, b in zip(starts, starts[1:]))
    assert tile_starts(100, 256, 32) == [0]
    assert count_tiles((3000, 4000), (480, 720), 32) == 7 * 6


@pytest.mark.parametrize("shape", [(300, 517), (64, 64), (65, 200)])
def test_tiled_equals_untiled_when_receptive_field_fits_the_guard_band(shape):
    image = np.random.default_rng(0).random((*shape, 3), dtype=np.float32)
    tiled = denoise_tiled(box5, image, (64, 64), overlap=16)  # guard band 4 >= radius 2
    assert np.abs(tiled - box5(image)).max() < 1e-5


def test_image_smaller_than_tile_is_reflect_padded():
    image = np.random.default_rng(1).random((20, 30, 3), dtype=np.float32)
    seen = []

    def fn(tile):
        seen.append(tile.shape)
        return tile * 2.0

    out = denoise_tiled(fn, image, (64, 96), overlap=8)
    assert seen == [(64, 96, 3)]
    np.testing.assert_allclose(out, image * 2.0, rtol=1e-6)


def test_tile_dependent_function_blends_without_seams():
    """Each tile gets a different brightness offset; the blend must ramp, never jump."""
    image = np.zeros((200, 300, 3), np.float32)
    offsets = iter(np.random.default_rng(2).uniform(-0.1, 0.1, size=100))
    out = denoise_tiled(lambda t: t + next(offsets), image, (64, 64), overlap=32)
    worst_step = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
    # A hard tile edge would step by up to 0.2; a 16-px raised cosine keeps steps below ~0.02.
    assert worst_step < 0.025


def test_bad_arguments():
    image = np.zeros((50, 50, 3), np.float32)
    with pytest.raises(UserError, match=r"expected an overlap in \[0, 32\)"):
        denoise_tiled(box5, image, (32, 32), overlap=32)
    with pytest.raises(UserError, match="expected the model to return a 32x32 tile"):
        denoise_tiled(lambda t: t[:16], image, (32, 32), overlap=8)
    with pytest.raises(UserError, match="H×W×C image"):
        denoise_tiled(box5, image[..., 0], (32, 32), overlap=8)


def test_full_resolution_4000x3000_matches_untiled():
    image = np.random.default_rng(3).random((3000, 4000, 3), dtype=np.float32)
    calls = []
    tiled = denoise_tiled(box5, image, (512, 512), overlap=32, on_tile=lambda: calls.append(1))
    assert tiled.shape == image.shape and tiled.dtype == np.float32
    assert not np.isnan(tiled).any()
    assert len(calls) == count_tiles((3000, 4000), (512, 512), 32) == 7 * 9
    assert np.abs(tiled - box5(image)).max() < 1e-5


def test_accumulate_equals_the_full_weighted_sum():
    # Multiplying only the bands below weight 1 must give exactly the outer-product blend.
    from mobiledenoise.deploy.tiling import accumulate, axis_weights

    rng = np.random.default_rng(0)
    for length, tile, overlap in [(300, 128, 32), (128, 128, 32), (200, 64, 60), (70, 64, 8)]:
        for _, wy in axis_weights(length, tile, overlap):
            for _, wx in axis_weights(length + 17, tile, overlap):
                result = rng.random((len(wy), len(wx), 3), dtype=np.float32)
                start = rng.random((len(wy), len(wx), 3), dtype=np.float32)
                fast = start.copy()
                accumulate(fast, result, wy, wx)
                np.testing.assert_allclose(fast, start + result * np.outer(wy, wx)[..., None],
                                           rtol=0, atol=1e-6)
