"""The quality metrics on known cases."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from colorizer import config
from colorizer.color import rgb_to_gray
from colorizer.metrics import (FLOOR_HUES, HIT_DEGREES, _within, colorfulness, diversity,
                               hue_and_chroma, hue_counts, hue_rates, psnr, score_photo, ssim,
                               summary_table, tint_share)
from conftest import REPO, every_rgb_color


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
    row, _ = score_photo(np.stack([worse, img]), img, gray, [0.0, 180.0])
    assert row["psnr"] == pytest.approx(row["psnr_gray"])
    assert row["psnr_best"] == float("inf")
    assert row["colorfulness_orig"] == pytest.approx(colorfulness(img))
    assert row["colorfulness_first"] == 0
    assert row["colorfulness"] == pytest.approx(colorfulness(img) / 2)
    assert row["luma_error"] <= 1
    assert row["psnr_mean"] == float("inf")  # one exact sample makes the mean MSE-based PSNR...
    assert row["hue_hits_first"] == 0 and row["hue_hits_best"] == 1 and row["hue_hits"] == 0.5


def test_prior_z_starts_each_photo_at_the_center():
    from colorizer.inference import prior_z

    z = prior_z(3, 4, 8, seed=0).reshape(3, 4, 8)
    assert z.dtype == np.float32 and not z[:, 0].any() and np.all(z[:, 1:].std(axis=-1) > 0.3)
    assert np.array_equal(z, prior_z(3, 4, 8, seed=0).reshape(3, 4, 8))
    assert not np.array_equal(z, prior_z(3, 4, 8, seed=1).reshape(3, 4, 8))
    hot, cool = prior_z(3, 4, 8, seed=0, temperature=2), prior_z(3, 4, 8, seed=0, temperature=1)
    assert np.allclose(hot, 2 * cool)


@pytest.mark.parametrize("regions", [1, 4])
def test_a_photos_draws_point_apart_in_each_region(regions):
    """Each region's part of a draw lies at τ·√d from the center; the first 2d draws of a region
    are an orthonormal basis and its opposite, pair after pair; the next 2d another such."""
    from colorizer.inference import prior_z

    d, samples, temperature = 4, 1 + 2 * 4 + 3, 1.5
    z = prior_z(2, samples, d * regions, seed=0, temperature=temperature, regions=regions)
    draws = z.reshape(2, samples, regions, d)[:, 1:] / (temperature * np.sqrt(d))
    assert np.allclose(np.linalg.norm(draws, axis=-1), 1, atol=1e-6)
    first = draws[:, :2 * d]
    gram = np.einsum("psrd,ptrd->prst", first, first)
    pairs = np.kron(np.eye(d), [[1, -1], [-1, 1]])
    assert np.allclose(gram, pairs, atol=1e-6)
    # another basis after 2d draws, and another for each photo and region
    assert not np.allclose(np.abs(draws[:, 2 * d]), np.abs(draws[:, 0]), atol=1e-3)
    assert not np.allclose(draws[0], draws[1], atol=1e-3)
    if regions > 1:
        assert not np.allclose(draws[:, :, 0], draws[:, :, 1], atol=1e-3)


def test_large_photos_are_scored_on_a_smaller_copy(color_photos):
    from colorizer.metrics import shrink

    img = np.concatenate([color_photos[0]] * 4, axis=1)  # wide
    small = shrink(img, 256)
    assert max(small.shape[:2]) == 256 and small.shape[2] == 3
    assert shrink(img, 10_000) is img
    gray = rgb_to_gray(img)
    row, _ = score_photo(np.stack([img]), img, gray, [0.0], max_side=256)
    assert row["psnr_best"] == float("inf") and row["luma_error"] <= 1


def _flat(hue_deg, chroma=40.0, shape=(6, 6)):
    """A uint8 RGB image of one opponent hue and chroma around mid-gray."""
    rg, yb = chroma * np.cos(np.radians(hue_deg)), chroma * np.sin(np.radians(hue_deg))
    # R − G = rg and (R + G)/2 − B = yb, with R + G + B = 384
    b = (384 - 2 * yb) / 3
    r, g = b + yb + rg / 2, b + yb - rg / 2
    return np.broadcast_to(np.rint([r, g, b]).astype(np.uint8), (*shape, 3)).copy()


def test_opponent_hue_follows_the_definition():
    hue, chroma = hue_and_chroma(np.array([[255, 0, 0], [0, 0, 255], [0, 255, 0], [9, 9, 9]], np.uint8))
    assert hue[:3] == pytest.approx([np.degrees(np.arctan2(127.5, 255)), 270,
                                     np.degrees(np.arctan2(127.5, -255))])
    assert chroma[:3] == pytest.approx([np.hypot(255, 127.5), 255, np.hypot(255, 127.5)])
    assert chroma[3] == 0


def _hue_and_chroma_as_written(img_rgb):
    rgb = img_rgb.astype(np.float64)
    rg, yb = rgb[..., 0] - rgb[..., 1], (rgb[..., 0] + rgb[..., 1]) / 2 - rgb[..., 2]
    return np.degrees(np.arctan2(yb, rg)) % 360, np.hypot(rg, yb)


def test_hue_and_chroma_of_every_rgb_color_is_the_definition_to_the_bit():
    rgb = every_rgb_color()
    hue, chroma = hue_and_chroma(rgb)
    expected_hue, expected_chroma = _hue_and_chroma_as_written(rgb)
    assert hue.tobytes() == expected_hue.tobytes()
    assert chroma.tobytes() == expected_chroma.tobytes()


def test_within_30_degrees_is_the_definition_at_every_edge():
    """The hit test against abs((a − b + 180) % 360 − 180) ≤ 30 as written, on every hue 8-bit
    RGB can have paired with hues at, a float step either side of, and far from the edges."""
    hues = np.unique(hue_and_chroma(every_rgb_color())[0])
    rng = np.random.default_rng(0)
    pairs = [(rng.uniform(0, 360, hues.size), hues), (FLOOR_HUES[:, None] * 1.0, hues[::97])]
    for offset in (HIT_DEGREES, -HIT_DEGREES, 360 - HIT_DEGREES, HIT_DEGREES - 360, 0, 180):
        exact = hues + offset
        for other in (exact, np.nextafter(exact, np.inf), np.nextafter(exact, -np.inf)):
            inside = (other >= 0) & (other < 360)
            pairs.append((other[inside], hues[inside]))
    for hue_a, hue_b in pairs:
        expected = np.abs((hue_a - hue_b + 180) % 360 - 180) <= HIT_DEGREES
        assert np.array_equal(_within(hue_a, hue_b), expected)


def test_hue_hits_of_a_copy_gray_and_a_tint(color_photos):
    photos = color_photos[:12]
    copies = [hue_counts(img[None], img, [0.0]) for img in photos]
    grays = [hue_counts(np.repeat(rgb_to_gray(img)[None, ..., None], 3, -1), img, [0.0])
             for img in photos]
    copy, gray = hue_rates(copies)["first sample"], hue_rates(grays)["first sample"]
    assert copy[0] == 1 and copy[1] == 1 and np.all(copy[2][np.isfinite(copy[2])] == 1)
    assert gray[0] == 0 and gray[1] == 0

    # A flat tint hits exactly the colored pixels whose hue lies within 30° of its own, which
    # is what the one-hue floor counts for each of its hues.
    k = 8  # 120°, green
    tinted = [hue_counts(_flat(FLOOR_HUES[k], shape=img.shape[:2])[None], img, [0.0])
              for img in photos]
    hue_orig, chroma_orig = hue_and_chroma(np.concatenate([p.reshape(-1, 3) for p in photos]))
    colored = hue_orig[chroma_orig >= 20]
    within = lambda h: np.sum(np.abs((colored - h + 180) % 360 - 180) <= 30)  # noqa: E731
    tint_hue = hue_and_chroma(_flat(FLOOR_HUES[k]))[0][0, 0]  # 120° up to 8-bit rounding
    assert sum(c["hits"][0].sum() for c in tinted) == within(tint_hue)
    assert sum(c["floor_global"][k].sum() for c in copies) == within(120) > 0
    floor = hue_rates(copies)["floor: one hue"]
    assert floor[0] == max(hue_rates([{**c, "hits": c["floor_global"][[j]]} for c in copies])
                           ["first sample"][0] for j in range(len(FLOOR_HUES)))


def test_balanced_rate_weighs_each_hue_sector_alike():
    red, blue = _flat(15, shape=(10, 10)), _flat(210, shape=(10, 10))
    sky = np.concatenate([blue] * 9 + [red])  # 90 % blue pixels, 10 % red
    all_red = hue_counts(_flat(15, shape=sky.shape[:2])[None], sky, [0.0])
    per_photo, balanced, sectors = hue_rates([all_red])["first sample"]
    assert per_photo == pytest.approx(0.1) and balanced == pytest.approx(0.5)
    assert sectors[0] == 1 and sectors[3] == 0 and np.isnan(sectors[2])
    faint = hue_counts(_flat(210, chroma=5, shape=sky.shape[:2])[None], sky, [0.0])
    assert hue_rates([faint])["first sample"][1] == 0  # the right hue, too faint to count


def test_tint_share_tells_a_global_cast_from_regional_change(color_photos):
    img = color_photos[0].astype(int) // 2 + 64  # room to shift without clipping
    assert tint_share(np.stack([img, img + [20, 0, 0]]).astype(np.uint8)) == pytest.approx(1)
    regional = np.stack([img, img])
    regional[1, : img.shape[0] // 2] += [30, 0, 0]
    regional[1, img.shape[0] // 2:] -= [30, 0, 0]
    assert tint_share(regional.astype(np.uint8)) < 0.05
    assert np.isnan(tint_share(img[None].astype(np.uint8)))


def test_tint_share_is_its_formula_to_the_bit(color_photos):
    rng = np.random.default_rng(0)
    for img in color_photos[:6]:
        for n in (2, 3, 8):
            samples = np.clip(img + rng.integers(-40, 40, (n, 1, 1, 3)) +
                              rng.integers(-9, 9, (n, *img.shape)), 0, 255).astype(np.uint8)
            rgb = samples.astype(np.float64)
            red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            opp = np.stack([red - green, (red + green) / 2 - blue], -1)
            spread = opp - opp.mean(axis=0)
            total = np.mean(np.sum(spread**2, -1))
            cast = np.mean(np.sum(spread.mean(axis=(1, 2)) ** 2, -1))
            assert tint_share(samples) == float(cast / total)


def test_the_summary_of_one_sample_leaves_out_what_only_several_have(color_photos):
    img = color_photos[0]
    gray = rgb_to_gray(img)
    samples = np.stack([img, np.repeat(gray[..., None], 3, axis=-1)])
    tables = {}
    for n in (1, 2):
        row, counts = score_photo(samples[:n], img, gray, np.array([0.0, 90.0])[:n])
        tables[n] = summary_table([{"photo": "a.png", **row}], [counts], n)
    assert all(words in tables[2] for words in ("all 2 samples", "best of 2", "tint share",
                                                "diversity"))
    assert not any(words in tables[1] for words in ("all 1", "best of", "tint share", "diversity"))
    assert "first sample" in tables[1] and "floor: one random hue per photo" in tables[1]


def test_hue_confusion_says_where_each_sector_went(tmp_path):
    # Left half green, right half red; painted yellow on the left, left gray on the right.
    orig = np.zeros((8, 8, 3), np.uint8)
    orig[:, :4], orig[:, 4:] = (40, 160, 40), (200, 40, 40)
    painted = np.full((8, 8, 3), 128, np.uint8)
    painted[:, :4] = (170, 160, 60)
    for name, img in (("orig.png", orig), ("out.png", painted)):
        Image.fromarray(img).save(tmp_path / name)
    entry = {"photo": "p.jpg", "gray": "gray.png", "samples": ["out.png"], "original": "orig.png"}
    (tmp_path / config.OUTPUTS_FILE).write_text(json.dumps({"photos": [entry], "reports": []}))
    result = subprocess.run([sys.executable, str(REPO / "bench" / "hue_confusion.py"), str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: [float(v) for v in line.split()[2:9]]
            for line in result.stdout.splitlines()[1:]}
    assert rows["green"] == [0, 1, 0, 0, 0, 0, 0]  # all painted yellow
    assert rows["red/orange"] == [0, 0, 0, 0, 0, 0, 1]  # all left gray
    assert np.isnan(rows["cyan/blue"]).all()  # no such pixels in the original
