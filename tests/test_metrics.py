"""The quality metrics on known cases."""

import numpy as np
import pytest

from colorizer.color import rgb_to_gray
from colorizer.metrics import colorfulness, diversity, psnr, score_photo, ssim


def test_identical_images(color_photos):
    img = color_photos[0]
    assert psnr(img, img) == float("inf")
    assert ssim(img, img) == pytest.approx(1.0)
    assert diversity(np.stack([img, img, img])) == 0


def test_psnr_of_a_known_error():
    a = np.zeros((8, 8, 3), np.uint8)
    assert psnr(a, a + 10) == pytest.approx(10 * np.log10(255**2 / 100))


def test_gray_versus_color(color_photos):
    img = color_photos[0]
    gray_rgb = np.repeat(rgb_to_gray(img)[..., None], 3, axis=-1)
    assert colorfulness(gray_rgb) == 0
    assert colorfulness(img) > 10
    assert 10 < psnr(gray_rgb, img) < 50 and ssim(gray_rgb, img) < 1


def test_two_different_samples(color_photos):
    img = color_photos[0]
    brighter = np.clip(img.astype(int) + 20, 0, 255).astype(np.uint8)
    assert diversity(np.stack([img, brighter])) == pytest.approx(
        np.abs(brighter.astype(float) - img).mean() / 2)


def test_score_photo_picks_the_best_sample(color_photos):
    img = color_photos[1]
    gray = rgb_to_gray(img)
    worse = np.repeat(gray[..., None], 3, axis=-1)
    row = score_photo(np.stack([worse, img]), img, gray)
    assert row["psnr"] == pytest.approx(row["psnr_gray"])
    assert row["psnr_best"] == float("inf")
    assert row["colorfulness_orig"] == pytest.approx(colorfulness(img))
    assert row["colorfulness_first"] == 0
    assert row["colorfulness"] == pytest.approx(colorfulness(img) / 2)
    assert row["luma_error"] <= 1


def test_prior_z_starts_each_photo_at_the_center():
    from colorizer.model import prior_z

    z = prior_z(3, 4, 8, seed=0).reshape(3, 4, 8)
    assert z.dtype == np.float32 and not z[:, 0].any() and np.all(z[:, 1:].std(axis=-1) > 0.3)
    assert np.array_equal(z, prior_z(3, 4, 8, seed=0).reshape(3, 4, 8))
    assert not np.array_equal(z, prior_z(3, 4, 8, seed=1).reshape(3, 4, 8))
    hot, cool = prior_z(3, 4, 8, seed=0, temperature=2), prior_z(3, 4, 8, seed=0, temperature=1)
    assert np.allclose(hot, 2 * cool)


def test_large_photos_are_scored_on_a_smaller_copy(color_photos):
    from colorizer.metrics import shrink

    img = np.concatenate([color_photos[0]] * 4, axis=1)  # wide
    small = shrink(img, 256)
    assert max(small.shape[:2]) == 256 and small.shape[2] == 3
    assert shrink(img, 10_000) is img
    gray = rgb_to_gray(img)
    row = score_photo(np.stack([img]), img, gray, max_side=256)
    assert row["psnr_best"] == float("inf") and row["luma_error"] <= 1
