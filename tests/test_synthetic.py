"""Synthetic camera noise: noise model, colour round trip, realism of the levels, folder output."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from skimage import data as skdata

from mobiledenoise.data import synthetic as syn
from mobiledenoise.data.imageio import read_image, to_float
from mobiledenoise.data.pairs import find_pairs
from mobiledenoise.errors import UserError
from mobiledenoise.evaluate.metrics import psnr


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()[64:192, 160:288].astype(np.float32) / 255.0  # face + suit, 128²


def test_noise_variance_grows_linearly_with_signal():
    rng = np.random.default_rng(0)
    shot, read = 4e-3, 2e-4
    levels = np.linspace(0.01, 0.9, 20)
    flat = np.stack([np.full((64, 64, 4), v, np.float32) for v in levels])
    noisy = np.stack([syn.add_poisson_gaussian(p, shot, read, rng) for p in flat])
    means = noisy.mean(axis=(1, 2, 3))
    variances = noisy.var(axis=(1, 2, 3))
    slope, intercept = np.polyfit(means, variances, 1)
    fitted = slope * means + intercept
    r2 = 1 - np.sum((variances - fitted) ** 2) / np.sum((variances - variances.mean()) ** 2)
    assert slope == pytest.approx(shot, rel=0.05)
    assert intercept == pytest.approx(read, rel=0.25)
    assert r2 > 0.99


def test_sampled_camera_is_plausible():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p = syn.sample_params(rng, "camera")
        np.testing.assert_allclose(p.rgb_to_cam.sum(axis=1), 1.0, atol=1e-5)
        assert np.all(np.diag(p.cam_to_rgb) > 1.0)  # a camera's CCM boosts saturation
        assert 2e-5 <= p.shot <= 0.01
        assert p.read < p.shot  # read variance falls faster than shot (slope 2.18 in log)
        assert 1.9 <= p.wb_gains[0] <= 2.4 and 1.5 <= p.wb_gains[2] <= 1.9
        assert p.bits in (10, 12) and p.gamma in ("srgb", "2.2")


def test_round_trip_without_noise_returns_the_input(astronaut):
    rng = np.random.default_rng(2)
    for _ in range(4):
        params = syn.sample_params(rng)
        linear = syn.unprocess_linear(astronaut, params)
        assert psnr(syn.reprocess_linear(linear, params), astronaut) >= 45.0
        bayer = syn.unprocess(astronaut, params)
        assert bayer.shape == (64, 64, 4) and bayer.dtype == np.float32
        # The full mosaic round trip loses 2/3 of the samples to the bilinear demosaic:
        # close, but far from exact, which is why SyntheticNoise demosaics only the noise.
        assert 25.0 < psnr(syn.reprocess(bayer, params), astronaut) < 45.0


def test_unprocess_rejects_odd_sizes_and_synthetic_noise_handles_them(astronaut):
    params = syn.sample_params(np.random.default_rng(3))
    with pytest.raises(UserError, match="even height and width"):
        syn.unprocess(astronaut[:127], params)
    noisy, target = syn.SyntheticNoise(seed=0)(astronaut[:127, :125])
    assert noisy.shape == target.shape == (127, 125, 3)


def test_clean_target_equals_input_and_noise_spans_a_wide_range(astronaut):
    synth = syn.SyntheticNoise("camera", seed=4)
    scores = []
    for _ in range(40):
        noisy, target = synth(astronaut)
        assert psnr(target, astronaut) >= 45.0
        assert noisy.dtype == np.float32 and 0.0 <= noisy.min() and noisy.max() <= 1.0
        scores.append(psnr(noisy, target))
    assert max(scores) > 40.0 and min(scores) < 25.0, scores


def test_seeded_calls_are_reproducible(astronaut):
    a = syn.SyntheticNoise(seed=7)(astronaut)[0]
    b = syn.SyntheticNoise(seed=7)(astronaut)[0]
    c = syn.SyntheticNoise(seed=8)(astronaut)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(syn.SyntheticNoise()(astronaut, rng_a)[0],
                                  syn.SyntheticNoise()(astronaut, rng_b)[0])


def test_noise_is_correlated_between_neighbours_like_demosaiced_sensor_noise():
    flat = np.full((128, 128, 3), 0.5, np.float32)
    levels = syn.NoiseLevels(shot_range=(5e-3, 5.0001e-3), bit_depths=())
    noisy, target = syn.SyntheticNoise(levels, seed=5)(flat)
    noise = (noisy - target)[..., 1]
    correlation = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    assert correlation > 0.2  # i.i.d. per-pixel noise would give ≈ 0


@pytest.mark.parametrize("share,low,high", [(0.0, 0.2, 1.0), (0.5, 0.1, 0.35), (1.0, -0.05, 0.05)])
def test_white_share_moves_the_noise_from_demosaiced_to_white(share, low, high):
    flat = np.full((256, 256, 3), 0.5, np.float32)
    levels = syn.NoiseLevels(shot_range=(5e-3, 5.0001e-3), bit_depths=(),
                             white_share=(share, share))
    noisy, target = syn.SyntheticNoise(levels, seed=5)(flat)
    noise = noisy - target
    lag1 = np.mean([np.corrcoef(noise[:, :-1, c].ravel(), noise[:, 1:, c].ravel())[0, 1]
                    for c in range(3)])
    assert low < lag1 < high
    assert noise.std() > 0.02  # still as noisy a camera (std ≈ 0.05 here)


def test_jpeg_option_compresses_the_noisy_image_only(astronaut):
    plain = syn.SyntheticNoise(seed=6)(astronaut)
    jpeg = syn.SyntheticNoise(jpeg_quality=(70, 80), seed=6)(astronaut)
    np.testing.assert_array_equal(plain[1], jpeg[1])
    assert not np.array_equal(plain[0], jpeg[0])
    assert psnr(jpeg[0], plain[0]) > 25.0
    with pytest.raises(UserError, match="JPEG quality"):
        syn.SyntheticNoise(jpeg_quality=(80, 70))


def test_unknown_preset_is_a_user_error():
    with pytest.raises(UserError, match="noise preset"):
        syn.SyntheticNoise("loud")


def test_synthesize_folder_writes_pairs_that_find_pairs_reads(tmp_path, astronaut):
    from mobiledenoise.data.imageio import from_float, write_image

    source = tmp_path / "clean_src"
    write_image(source / "a.png", from_float(astronaut))
    write_image(source / "b.png", from_float(astronaut[:64, :96]))
    assert syn.synthesize_folder(source, tmp_path / "out", copies=2, seed=1) == 4
    pairs = find_pairs(tmp_path / "out")
    assert [p.name for p in pairs] == ["a_0", "a_1", "b_0", "b_1"]
    assert {p.scene for p in pairs} == {"a", "b"}  # copies of one image stay in one scene
    assert read_image(pairs[2].noisy).shape == (64, 96, 3)
    assert syn.synthesize_folder(source, tmp_path / "again", copies=2, seed=1) == 4
    np.testing.assert_array_equal(read_image(pairs[1].noisy),
                                  read_image(tmp_path / "again" / "noisy" / "a_1.png"))
    with pytest.raises(UserError, match="exists"):
        syn.synthesize_folder(source, tmp_path / "out", copies=1, seed=1)


def test_camera_preset_covers_the_real_polyu_noise(polyu_cropped):
    clean_files = sorted((polyu_cropped / "clean").iterdir())[::10]
    real_std, synth_std = [], []
    synth = syn.SyntheticNoise("camera", seed=0)
    for path in clean_files:
        clean = to_float(read_image(path))
        noisy = to_float(read_image(polyu_cropped / "noisy" / path.name))
        real_std.append(float(np.std(noisy - clean)) * 255)
        for _ in range(3):
            fake, target = synth(clean)
            synth_std.append(float(np.std(fake - target)) * 255)
    print(f"\nreal noise std /255: {min(real_std):.2f}–{max(real_std):.2f} "
          f"(mean {np.mean(real_std):.2f}); synthetic 'camera': {min(synth_std):.2f}–"
          f"{max(synth_std):.2f} (median {np.median(synth_std):.2f})")
    assert min(synth_std) < min(real_std) and max(synth_std) > 2 * max(real_std)


def _chroma_to_luma(noise: np.ndarray) -> float:
    luma = noise.mean(axis=-1, keepdims=True)
    return float((noise - luma).var() / luma.var())


def test_calibrated_preset_spans_the_chroma_share_of_real_noise():
    # Real sRGB noise: chroma/luma variance 0.33 (PolyU) to 0.80 (sidd_mini); raw demosaiced
    # noise ('camera') gives ~4 because the camera matrix amplifies chroma. The calibrated
    # preset's per-sample ISP chroma reduction must span the real range on both sides.
    grey = np.full((96, 96, 3), 0.4, np.float32)
    shot = (3e-3, 3.0001e-3)
    raw = syn.NoiseLevels(shot_range=shot, bit_depths=())
    calibrated = dataclasses.replace(syn.PRESETS["calibrated"], shot_range=shot, bit_depths=())
    raw_share = _chroma_to_luma(np.subtract(*syn.SyntheticNoise(raw, seed=0)(grey)))
    shares = [_chroma_to_luma(np.subtract(*syn.SyntheticNoise(calibrated, seed=s)(grey)))
              for s in range(16)]
    assert raw_share > 2.0
    assert min(shares) < 0.5 and max(shares) > 1.0


def test_reduce_chroma_keeps_the_luma_of_the_noise():
    noise = np.random.default_rng(0).normal(0, 0.05, (64, 64, 3)).astype(np.float32)
    reduced = syn.reduce_chroma(noise, 0.3, 1.0)
    np.testing.assert_allclose(reduced.mean(-1), noise.mean(-1), atol=1e-6)
    assert _chroma_to_luma(reduced) < 0.1 * _chroma_to_luma(noise)


@pytest.mark.parametrize("preset", ["calibrated", "camera_wide_night"])
def test_night_presets_reach_phone_noise_and_beyond(astronaut, preset):
    # SIDD phone pairs have noise std ≈ 17–20 /255; the preset must cover that and more.
    synth = syn.SyntheticNoise(preset, seed=1)
    stds = [float(np.std(np.subtract(*synth(astronaut)))) * 255 for _ in range(60)]
    assert np.percentile(stds, 5) < 3.0
    assert np.mean(np.array(stds) > 17.0) > 0.15
    assert max(stds) > 30.0


def _shadow_to_mid_std(tone: str) -> float:
    """Noise std at sRGB 16-63 over that at 96-159 (as noise_realism.py), phone level."""
    ramp = np.repeat(np.linspace(0.05, 0.7, 128, dtype=np.float32)[None, :, None], 128, axis=0)
    ramp = np.repeat(ramp, 3, axis=2)
    levels = dataclasses.replace(syn.PRESETS["camera_phone"], shot_range=(2e-3, 2.0001e-3),
                                 tone_curves=(tone,), white_share=(1.0, 1.0), bit_depths=())
    noisy, target = syn.SyntheticNoise(levels, seed=0)(ramp)
    noise, intensity = noisy - target, target.mean(-1)
    shadows = noise[(intensity > 16 / 255) & (intensity < 64 / 255)].std()
    mids = noise[(intensity > 96 / 255) & (intensity < 160 / 255)].std()
    return float(shadows / mids)


def test_without_the_s_curve_shadow_noise_is_stronger_like_a_phones():
    # Real phone sRGB noise is ~1.5× stronger in the shadows than in the mid-tones (SIDD);
    # smoothstep, flat at black, squashes it below 1×. camera_phone draws both curves.
    s_curve, gamma_only = _shadow_to_mid_std("smoothstep"), _shadow_to_mid_std("none")
    assert s_curve < 0.9 and gamma_only > 1.15 and gamma_only > 1.4 * s_curve
    tones = {syn.sample_params(np.random.default_rng(s), "camera_phone").tone for s in range(20)}
    assert tones == {"smoothstep", "none"}


def test_round_trip_without_tone_curve_returns_the_input(astronaut):
    params = dataclasses.replace(syn.sample_params(np.random.default_rng(5), "camera"), tone="none")
    assert psnr(syn.reprocess_linear(syn.unprocess_linear(astronaut, params), params),
                astronaut) >= 45.0
