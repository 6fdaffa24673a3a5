"""The color representation, on real photos."""

import numpy as np
import pytest
from PIL import Image

from colorizer.color import (chroma_to_hue_saturation, is_grayscale, merge, rgb_to_chroma,
                             rgb_to_gray)
from conftest import every_rgb_color


def test_gray_is_pillow_luma(color_photos):
    for img_rgb in color_photos:
        expected = np.asarray(Image.fromarray(img_rgb).convert("L"))
        assert np.array_equal(rgb_to_gray(img_rgb), expected)


def test_split_and_merge_gives_the_photo_back(color_photos):
    for img_rgb in color_photos:
        back = merge(rgb_to_gray(img_rgb), rgb_to_chroma(img_rgb))
        assert np.abs(back.astype(int) - img_rgb).max() <= 1


def test_merge_keeps_the_gray_whatever_the_color(color_photos):
    rng = np.random.default_rng(0)
    for img_rgb in color_photos[:10]:
        gray = rgb_to_gray(img_rgb)
        wild = rng.normal(0, 1, gray.shape + (2,)).astype(np.float32)  # far outside the gamut
        merged = merge(gray, wild)
        assert np.abs(rgb_to_gray(merged).astype(int) - gray).max() <= 1
        assert merged.std(axis=-1).mean() > 5  # and it really is colored


@pytest.mark.parametrize("rgb, hue", [((255, 0, 0), 0), ((255, 255, 0), 60), ((0, 255, 0), 120),
                                      ((0, 255, 255), 180), ((0, 0, 255), 240)])
def test_hue_convention_and_saturation(rgb, hue):
    got_hue, sat = chroma_to_hue_saturation(rgb_to_chroma(np.array(rgb, np.uint8)))
    assert got_hue == pytest.approx(hue, abs=1e-3)
    assert sat == pytest.approx(1.0)
    back = merge(rgb_to_gray(np.array(rgb, np.uint8)), rgb_to_chroma(np.array(rgb, np.uint8)))
    assert np.abs(back.astype(int) - rgb).max() <= 1  # the pure color survives split and merge


def test_saturation_is_cut_not_brightness_where_unreachable():
    gray = np.array([240, 20], np.uint8)  # too bright, too dark for a strong blue
    blue = np.array([[np.cos(np.radians(240)), np.sin(np.radians(240))]] * 2, np.float32)
    merged = merge(gray, blue)
    assert np.array_equal(rgb_to_gray(merged), gray)
    hue, sat = chroma_to_hue_saturation(rgb_to_chroma(merged))
    assert sat[0] < 0.1 and sat[1] < 0.75  # 1.0 was asked for
    assert hue == pytest.approx([240, 240], abs=2)


def test_gray_and_zero_chroma():
    levels = np.arange(256, dtype=np.uint8)
    gray_rgb = np.stack([levels] * 3, -1)
    assert np.all(rgb_to_chroma(gray_rgb) == 0)
    assert np.array_equal(merge(levels, np.zeros((256, 2), np.float32)), gray_rgb)


def test_is_grayscale(color_photos):
    img_rgb = color_photos[0]
    gray_rgb = np.asarray(Image.fromarray(img_rgb).convert("L").convert("RGB"))
    assert is_grayscale(gray_rgb)
    assert not is_grayscale(img_rgb)


def test_rebalancing_weighs_rare_hues_up_whatever_their_saturation():
    from colorizer.color import chroma_bin, chroma_bin_centers, rebalancing_weights

    def pixels(hue_deg, sat, n):
        angle = np.radians(np.full(n, hue_deg))
        return np.stack([sat * np.cos(angle), sat * np.sin(angle)], -1)

    # Orange 3 times as common as green, a pale and a bold green alike, and some gray.
    chroma = np.concatenate([pixels(15, 0.5, 600), pixels(135, 0.3, 100), pixels(135, 0.7, 100),
                             np.zeros((200, 2))]).astype(np.float32)
    weights = rebalancing_weights(chroma, mix=0.5)
    per_pixel = weights[chroma_bin(chroma)]
    assert per_pixel.mean() == pytest.approx(1, rel=1e-5)
    orange, pale_green, bold_green, gray = per_pixel[[0, 600, 700, 800]]
    assert pale_green == bold_green  # the same hue weighs the same at any saturation
    # Sector shares 0.75 and 0.25 of the colored pixels, mixed half with 1/12 each.
    assert bold_green / orange == pytest.approx((0.375 + 0.5 / 12) / (0.125 + 0.5 / 12), rel=1e-5)
    colored_mean = (0.75 / (0.375 + 0.5 / 12) + 0.25 / (0.125 + 0.5 / 12)) * orange * (0.375 + 0.5 / 12)
    assert gray == pytest.approx(colored_mean, rel=1e-5)  # gray's hue is noise: no sector's weight
    assert np.allclose(rebalancing_weights(chroma, mix=1.0), 1, rtol=1e-5)
    assert len(weights) == len(chroma_bin_centers())


def _merge_as_written(gray, chroma):
    """merge's formulas as plainly as they read (a float modulo, a where per side): the faster
    merge must give these pixels to the bit, so the speed work changes no output."""
    from colorizer.color import _GAMUT_SLACK, LUMA_WEIGHTS

    y = gray.astype(np.float32)[..., None] / 255
    chroma = chroma.astype(np.float32)
    hue = np.degrees(np.arctan2(chroma[..., 1], chroma[..., 0])) % 360
    sat = np.hypot(chroma[..., 0], chroma[..., 1])
    k = (np.array([5, 3, 1], np.float32) + (hue / 60)[..., None]) % 6
    pure = 1 - np.clip(np.minimum(k, 4 - k), 0, 1)
    direction = pure - (pure @ LUMA_WEIGHTS)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(direction > 0, (1 + _GAMUT_SLACK - y) / direction,
                        np.where(direction < 0, -(y + _GAMUT_SLACK) / direction, np.inf))
    sat = np.minimum(sat, room.min(-1))
    return np.clip(np.rint((y + sat[..., None] * direction) * 255), 0, 255).astype(np.uint8)


def test_merge_gives_the_pixels_of_its_plain_formulas_to_the_bit(color_photos):
    rng = np.random.default_rng(0)
    chromas = [rng.uniform(-1.3, 1.3, (64, 64, 2)), rng.normal(0, 0.2, (64, 64, 2)),
               np.array([[[0, 0], [-0.0, 0], [0, -1e-9], [-1, -1e-30], [1e-30, 0]]])]
    grays = [rng.integers(0, 256, (64, 64), np.uint8), rng.integers(0, 256, (64, 64), np.uint8),
             np.array([[0, 255, 128, 1, 254]], np.uint8)]
    grays += [rgb_to_gray(img) for img in color_photos]
    chromas += [rgb_to_chroma(img) * 1.5 for img in color_photos]
    for gray, chroma in zip(grays, chromas):
        assert np.array_equal(merge(gray, chroma), _merge_as_written(gray, chroma))


def test_chroma_of_every_rgb_color_is_its_plain_formula_to_the_bit():
    rgb = every_rgb_color()
    x = rgb.astype(np.float32) / 255
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    high, low = x.max(-1), x.min(-1)
    sat = high - low
    safe = np.where(sat > 0, sat, 1)
    sextant = np.where(high == r, ((g - b) / safe) % 6,
                       np.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4))
    angle = sextant * (np.pi / 3)
    expected = np.stack([sat * np.cos(angle), sat * np.sin(angle)], -1).astype(np.float32)
    assert rgb_to_chroma(rgb).tobytes() == expected.tobytes()


def test_gray_of_every_rgb_color_is_pillows():
    rgb = every_rgb_color()
    assert np.array_equal(rgb_to_gray(rgb), np.asarray(Image.fromarray(rgb).convert("L")))
