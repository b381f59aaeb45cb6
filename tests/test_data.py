"""Pair discovery, image loading, the scene split and the patch sampler."""

import numpy as np
import pytest
from PIL import Image

from mobiledenoise.data.imageio import read_image, write_image
from mobiledenoise.data.pairs import find_clean_images, find_pairs, load_pair, split_by_scene
from mobiledenoise.data.patches import PatchConfig, PatchSampler
from mobiledenoise.errors import UserError


def _rgb(h=16, w=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_noisy_clean_folders(pair_folder):
    pairs = find_pairs(pair_folder)
    assert [p.name for p in pairs][:2] == ["scene0_0", "scene0_1"]
    assert all(p.noisy.parent.name == "noisy" and p.clean.parent.name == "clean" for p in pairs)
    assert pairs[0].scene == "scene0"


@pytest.mark.parametrize("noisy_name,clean_name", [
    ("Canon_x_real.png", "Canon_x_mean.png"), ("NOISY_0001.png", "GT_0001.png")])
def test_flat_suffix_pairs(tmp_path, noisy_name, clean_name):
    Image.fromarray(_rgb()).save(tmp_path / noisy_name)
    Image.fromarray(_rgb(seed=1)).save(tmp_path / clean_name)
    (pair,) = find_pairs(tmp_path)
    assert pair.noisy.name == noisy_name and pair.clean.name == clean_name


def test_missing_and_empty_folders_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        find_pairs(tmp_path / "nope")
    with pytest.raises(UserError, match="found none"):
        find_pairs(tmp_path)


def test_mismatched_pair_sizes_are_refused(tmp_path):
    (tmp_path / "noisy").mkdir(), (tmp_path / "clean").mkdir()
    Image.fromarray(_rgb(16, 24)).save(tmp_path / "noisy" / "a_1.png")
    Image.fromarray(_rgb(16, 20)).save(tmp_path / "clean" / "a_1.png")
    (pair,) = find_pairs(tmp_path)
    with pytest.raises(UserError, match="one size"):
        load_pair(pair)


def test_split_by_scene_is_deterministic_and_keeps_scenes_whole(polyu_cropped):
    pairs = find_pairs(polyu_cropped)
    train, val = split_by_scene(pairs)
    again = split_by_scene(list(reversed(pairs)))
    assert {p.name for p in again[1]} == {p.name for p in val}  # order-independent
    assert not {p.scene for p in train} & {p.scene for p in val}
    assert len(train) + len(val) == len(pairs) == 100
    assert 10 <= len(val) <= 35
    assert {p.name for p in split_by_scene(pairs, seed=1)[1]} != {p.name for p in val}


def test_16bit_png_keeps_its_depth(tmp_path):
    import cv2

    image = (np.arange(16 * 24 * 3).reshape(16, 24, 3) * 37 % 65536).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), image[..., ::-1])
    loaded = read_image(tmp_path / "a.png")
    assert loaded.dtype == np.uint16 and np.array_equal(loaded, image)


def test_exif_orientation_is_applied(tmp_path):
    image = _rgb(10, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.fromarray(image).save(tmp_path / "r.jpg", exif=exif, quality=100)
    assert read_image(tmp_path / "r.jpg").shape == (20, 10, 3)


def test_grayscale_and_palette_are_converted_rgba_with_transparency_refused(tmp_path):
    Image.fromarray(_rgb()[..., 0]).save(tmp_path / "g.png")
    assert read_image(tmp_path / "g.png").shape == (16, 24, 3)
    Image.fromarray(_rgb()).convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").shape == (16, 24, 3)
    rgba = np.dstack([_rgb(), np.full((16, 24), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "t.png")
    with pytest.raises(UserError, match="transparent"):
        read_image(tmp_path / "t.png")


def test_corrupt_and_non_image_files_are_user_errors(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="not a readable image"):
        read_image(tmp_path / "x.png")
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "full.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:300])
    with pytest.raises(UserError):
        read_image(tmp_path / "cut.jpg")


def test_write_image_refuses_to_overwrite_and_leaves_no_temp_files(tmp_path):
    write_image(tmp_path / "o.png", _rgb())
    with pytest.raises(UserError, match="--overwrite"):
        write_image(tmp_path / "o.png", _rgb())
    write_image(tmp_path / "o.png", _rgb(seed=3), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]


def _offset_pairs(tmp_path):
    """clean = gradient, noisy = clean + 10: aligned crops keep the offset everywhere."""
    (tmp_path / "noisy").mkdir(parents=True, exist_ok=True)
    (tmp_path / "clean").mkdir(exist_ok=True)
    yy, xx = np.mgrid[0:48, 0:64]
    for k in range(3):
        clean = np.stack([xx * 3, yy * 4, (xx + yy + 40 * k) % 200], -1).astype(np.uint8)
        Image.fromarray(clean).save(tmp_path / "clean" / f"s{k}_0.png")
        Image.fromarray(clean + 10).save(tmp_path / "noisy" / f"s{k}_0.png")
    return find_pairs(tmp_path)


def test_patches_are_aligned_and_a_pure_function_of_the_step(tmp_path):
    sampler = PatchSampler(_offset_pairs(tmp_path), PatchConfig(patch_size=16, batch_size=4), seed=3)
    noisy, clean = sampler.batch(7)
    assert noisy.shape == clean.shape == (4, 16, 16, 3)
    np.testing.assert_allclose(noisy - clean, 10 / 255, atol=1e-6)
    again = PatchSampler(sampler.pairs, sampler.config, seed=3).batch(7)
    np.testing.assert_array_equal(noisy, again[0])
    assert not np.array_equal(noisy, sampler.batch(8)[0])


def test_shards_of_a_batch_are_its_slices_and_depend_only_on_seed_step_and_shard(tmp_path):
    # A replica of a cluster makes only its shard; together they are the single-process batch.
    config = PatchConfig(patch_size=16, batch_size=6, mixup_prob=0.5)
    sampler = PatchSampler(_offset_pairs(tmp_path), config, seed=3)
    whole = sampler.batch(7)
    for shards in (2, 3):
        parts = [PatchSampler(sampler.pairs, config, seed=3).batch(7, shard, shards)
                 for shard in reversed(range(shards))][::-1]
        for i in range(2):
            np.testing.assert_array_equal(np.concatenate([p[i] for p in parts]), whole[i])
    assert not np.array_equal(sampler.batch(7, 0, 2)[0], sampler.batch(7, 1, 2)[0])


def test_prefetched_batches_are_the_batches_of_each_step_in_order(tmp_path):
    from mobiledenoise.data.patches import prefetched_batches

    sampler = PatchSampler(_offset_pairs(tmp_path), PatchConfig(patch_size=16, batch_size=4), seed=1)
    got = list(prefetched_batches(sampler, 3, 8, shards=(1,), n_shards=2))
    assert len(got) == 5
    for step, [(noisy, clean)] in zip(range(3, 8), got):
        expected = sampler.batch(step, 1, 2)
        np.testing.assert_array_equal(noisy, expected[0])
        np.testing.assert_array_equal(clean, expected[1])


def test_mixup_blends_pairs_consistently(tmp_path):
    config = PatchConfig(patch_size=16, batch_size=8, mixup_prob=1.0)
    pairs = _offset_pairs(tmp_path)
    noisy, clean = PatchSampler(pairs, config).batch(0)
    np.testing.assert_allclose(noisy - clean, 10 / 255, atol=1e-5)  # blend of two offsets of 10
    plain = PatchSampler(pairs, PatchConfig(patch_size=16, batch_size=8)).batch(0)[1]
    assert not np.allclose(clean, plain)


def test_patch_larger_than_images_is_a_user_error(tmp_path):
    sampler = PatchSampler(_offset_pairs(tmp_path), PatchConfig(patch_size=128, batch_size=1))
    with pytest.raises(UserError, match="patch"):
        sampler.batch(0)


def test_image_cache_is_bounded(tmp_path):
    pairs = _offset_pairs(tmp_path)
    config = PatchConfig(patch_size=16, batch_size=16, cache_mb=0)
    sampler = PatchSampler(pairs, config)
    sampler.batch(0)
    assert len(sampler.cache._items) == 1  # only the most recent pair stays decoded


def test_clean_only_images_become_synthetic_pairs(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    (pair,) = find_clean_images(tmp_path)
    assert pair.noisy == pair.clean


def test_written_files_get_normal_permissions_not_private_temp_ones(tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    path = write_image(tmp_path / "p.png", _rgb())
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_zoomed_clean_only_crops_are_shrunk_to_the_patch_and_get_synthetic_noise(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")
    config = PatchConfig(patch_size=32, batch_size=6, synthetic_zoom=2.5)
    noisy, clean = PatchSampler(find_clean_images(tmp_path), config).batch(0)
    assert noisy.shape == clean.shape == (6, 32, 32, 3)
    assert not np.allclose(noisy, clean)  # synthetic camera noise was added
    # shrinking averages neighbours: the zoomed targets are smoother than raw 32x32 crops
    raw = PatchSampler(find_clean_images(tmp_path), PatchConfig(patch_size=32, batch_size=6)).batch(0)[1]
    assert np.std(np.diff(clean, axis=2)) < np.std(np.diff(raw, axis=2))


def test_clean_only_share_sets_how_often_clean_only_images_are_drawn(tmp_path):
    pairs = _offset_pairs(tmp_path / "real")
    (tmp_path / "photos").mkdir()
    Image.fromarray(_rgb(48, 64)).save(tmp_path / "photos" / "p.png")
    pairs += find_clean_images(tmp_path / "photos")
    sampler = PatchSampler(pairs, PatchConfig(patch_size=16, clean_only_share=0.75))
    rng = np.random.default_rng(0)
    picks = [sampler._draw_pair(rng) for _ in range(2000)]
    share = np.mean([p.noisy == p.clean for p in picks])
    assert abs(share - 0.75) < 0.04  # by count it would be 1 in 4


def test_clean_only_images_are_decoded_once_and_cached_once(tmp_path):
    # A clean-only pair names one file on both sides. Decoding it twice doubled the cache's
    # bytes and made a 2 GB cache thrash on full-size photos (3.4x slower batches).
    from mobiledenoise.data.patches import ImageCache

    (tmp_path / "photos").mkdir()
    Image.fromarray(_rgb(32, 48)).save(tmp_path / "photos" / "a.png")
    (pair,) = find_clean_images(tmp_path / "photos")
    noisy, clean = load_pair(pair)
    assert noisy is clean
    cache = ImageCache(max_bytes=10**6)
    cache.get(pair)
    assert cache.nbytes == 32 * 48 * 3
