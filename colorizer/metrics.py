"""How good a colorization is: fidelity to the original, right hues, colorfulness, and spread.

All functions take uint8 RGB arrays (H, W, 3); samples are stacked (N, H, W, 3).

The hue measures work on the opponent axes rg = R − G, yb = (R + G)/2 − B of 8-bit RGB, with
chroma = hypot(rg, yb) and hue = atan2(yb, rg) in degrees. A pixel counts if the original's
chroma is at least COLORED_CHROMA; it is a hit where the output's hue is within HIT_DEGREES of
the original's and the output's chroma at least HIT_CHROMA. Rates are pooled by the original's
hue in six 60° sectors, so that a model painting everything orange cannot score on green and blue.
"""

import functools
import math

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

from .color import gray_to_rgb, rgb_to_gray
from .config import SCORE_MAX_PIXELS, SCORE_MAX_SIDE

COLORED_CHROMA = 20
HIT_CHROMA = 6
HIT_DEGREES = 30
HUE_SECTORS = ("red/orange", "yellow", "green", "cyan/blue", "blue/violet", "magenta")
MIN_SECTOR_SHARE = 0.005  # the balanced rate averages the sectors holding this share of pixels
FLOOR_HUES = np.arange(0, 360, 15)  # the global-hue floor tries each of these for every photo
RANDOM_FLOOR_SEED = 0


def psnr(img_rgb, img_ref):
    """Peak signal-to-noise ratio in dB over all three channels; inf for identical images."""
    mse = np.mean((img_rgb.astype(np.float64) - img_ref.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(img_rgb, img_ref):
    """Structural similarity (Wang et al. 2004), averaged over the three channels."""
    return float(structural_similarity(img_rgb, img_ref, channel_axis=-1, data_range=255))


def colorfulness(img_rgb):
    """Hasler and Süsstrunk (2003): 0 for gray, about 40 for a typical color photo."""
    rgb = img_rgb.astype(np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def diversity(samples_rgb):
    """Mean per-pixel spread between samples, in 0–255 levels: the standard deviation across
    the samples, averaged over pixels and channels; 0 when all samples are the same."""
    return float(samples_rgb.astype(np.float64).std(axis=0).mean())


def _opponent_ints(img_rgb):
    """uint8 RGB (..., 3) -> int32 (rg, 2 · yb), each (...): whole numbers, so exact."""
    rgb = img_rgb.astype(np.int32)
    red, green = rgb[..., 0], rgb[..., 1]
    return red - green, red + green - 2 * rgb[..., 2]


def opponent(img_rgb):
    """uint8 RGB (..., 3) -> float64 (rg, yb) (..., 2)."""
    rg, yb2 = _opponent_ints(img_rgb)
    return np.stack([rg.astype(np.float64), yb2 * 0.5], -1)


def _degrees_0_360(angle):
    """angle % 360 to the bit for angles in (-360, 720), without numpy's slower float modulo."""
    return np.where(angle < 0, angle + 360, np.where(angle >= 360, angle - 360, angle))


RG_MAX, YB2_MAX = 255, 510  # 8-bit RGB gives |rg| ≤ 255 and |2 · yb| ≤ 510


@functools.cache
def _hue_chroma_table():
    """Hue and chroma, flat, of every (rg, 2 · yb) that 8-bit RGB can give, by the formulas of
    the module's docstring; 8 MB, made once. A lookup is a few times faster than the
    trigonometry per pixel, and gives the same bits (a test checks all 2^24 colors)."""
    rg, yb2 = np.meshgrid(np.arange(-RG_MAX, RG_MAX + 1), np.arange(-YB2_MAX, YB2_MAX + 1),
                          indexing="ij")
    rg, yb = rg.ravel().astype(np.float64), yb2.ravel() * 0.5
    return _degrees_0_360(np.degrees(np.arctan2(yb, rg))), np.hypot(rg, yb)


def hue_and_chroma(img_rgb):
    """uint8 RGB (..., 3) -> (hue in degrees 0–360, chroma), each (...)."""
    rg, yb2 = _opponent_ints(img_rgb)
    index = (rg + RG_MAX) * (2 * YB2_MAX + 1) + (yb2 + YB2_MAX)
    hue, chroma = _hue_chroma_table()
    return hue[index], chroma[index]


def hue_sector(hue):
    """Hue in degrees (...) -> index (...) of its 60° sector in HUE_SECTORS."""
    return np.minimum((hue // 60).astype(int), 5)


def _within(hue_a, hue_b):
    """abs((hue_a − hue_b + 180) % 360 − 180) ≤ HIT_DEGREES for hues in [0, 360), as one shift
    and three comparisons: the wrap and the − 180 are exact where the answer turns on them."""
    shifted = hue_a - hue_b
    shifted += 180
    return (((shifted >= 180 - HIT_DEGREES) & (shifted <= 180 + HIT_DEGREES))
            | (shifted <= HIT_DEGREES - 180) | (shifted >= 540 - HIT_DEGREES))


def hue_counts(samples_rgb, img_orig, random_hues):
    """Colored pixels and hits of one photo, per hue sector of the original.

    Returns colored (6,), hits (N samples, 6), the hits of each FLOOR_HUES painted flat
    (len(FLOOR_HUES), 6), and of each of random_hues painted flat (len(random_hues), 6).
    """
    hue_orig, chroma_orig = hue_and_chroma(img_orig)
    colored = chroma_orig >= COLORED_CHROMA
    hue_orig = hue_orig[colored]
    # Each colored pixel's sector as a column of ones: hits (K, pixels) @ it counts per sector.
    in_sector = np.arange(6) == hue_sector(hue_orig)[:, None]

    def per_sector(hit):  # hit (K, colored pixels) -> (K, 6)
        return hit.astype(np.float64) @ in_sector

    pixels_rgb = samples_rgb.reshape(len(samples_rgb), -1, 3)
    hue_out, chroma_out = hue_and_chroma(np.take(pixels_rgb, np.flatnonzero(colored), axis=1))
    hits = _within(hue_out, hue_orig) & (chroma_out >= HIT_CHROMA)
    flat = lambda hues: per_sector(_within(np.asarray(hues, float)[:, None], hue_orig))  # noqa: E731
    return {"colored": in_sector.sum(0).astype(float), "hits": per_sector(hits),
            "floor_global": flat(FLOOR_HUES), "floor_random": flat(random_hues)}


def tint_share(samples_rgb):
    """Of the mean squared spread of (rg, yb) between samples, the share explained by each
    sample's mean over the photo: 1 when samples differ only by a global cast, nan for one sample."""
    opp = opponent(samples_rgb)
    spread = opp - opp.mean(axis=0)
    squared = spread**2
    total = np.mean(squared[..., 0] + squared[..., 1])  # numpy's sum over an axis of 2 is slow
    cast = np.mean(np.sum(spread.mean(axis=(1, 2)) ** 2, -1))
    return float(cast / total) if total > 0 and len(samples_rgb) > 1 else float("nan")


def luma_error(img_rgb, gray):
    """Mean absolute difference, in levels, between the output's luma and the input gray."""
    return float(np.abs(rgb_to_gray(img_rgb).astype(np.int16) - gray).mean())


def shrink(img, max_side):
    """img (uint8, gray or RGB) resized so its long side is at most max_side."""
    scale = max_side / max(img.shape[:2])
    if scale >= 1:
        return img
    size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BOX))


def _rate(hits, colored):
    """Per-photo hit rate averaged over photos, and the balanced rate with its sector rates.

    hits and colored are (photos, 6); photos without colored pixels are left out of the mean.
    """
    has_color = colored.sum(1) > 0
    if not has_color.any():
        return float("nan"), float("nan"), np.full(6, np.nan)
    per_photo = float(np.mean(hits.sum(1)[has_color] / colored.sum(1)[has_color]))
    pooled, pooled_hits = colored.sum(0), hits.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sectors = pooled_hits / pooled
    counted = pooled >= MIN_SECTOR_SHARE * pooled.sum()
    return per_photo, float(sectors[counted].mean()), sectors


def first_colorization_scores(imgs_rgb, imgs_orig):
    """(balanced hue hits, mean PSNR) of one colorization per photo against its original: what
    training watches on its validation photos to keep the epoch that colors them best."""
    counts = [hue_counts(img[None], orig, ()) for img, orig in zip(imgs_rgb, imgs_orig)]
    _, balanced, _ = _rate(np.stack([c["hits"][0] for c in counts]),
                           np.stack([c["colored"] for c in counts]))
    return balanced, float(np.mean([psnr(img, orig) for img, orig in zip(imgs_rgb, imgs_orig)]))


def hue_rates(counts):
    """The hue measures over photos, from their hue_counts: {row: (per-photo mean, balanced,
    per-sector rates (6,))} for the first sample, all samples (mean), the best sample of each
    photo (most hits), one hue for every photo (the best of FLOOR_HUES, chosen per measure),
    and the best of each photo's random hues."""
    colored = np.stack([c["colored"] for c in counts])
    best = lambda key: np.stack([c[key][c[key].sum(1).argmax()] for c in counts])  # noqa: E731
    rows = {"first sample": _rate(np.stack([c["hits"][0] for c in counts]), colored),
            "all samples": _rate(np.stack([c["hits"].mean(0) for c in counts]), colored),
            "best sample": _rate(best("hits"), colored)}
    flat = [_rate(np.stack([c["floor_global"][k] for c in counts]), colored)
            for k in range(len(FLOOR_HUES))]
    by_balanced = max(flat, key=lambda r: r[1])
    rows["floor: one hue"] = (max(r[0] for r in flat), by_balanced[1], by_balanced[2])
    rows["floor: best random hue"] = _rate(best("floor_random"), colored)
    return rows


def hue_table(rates, samples):
    """hue_rates as printable lines: per-photo and balanced rates, then each sector's."""
    names = {"all samples": f"all {samples} samples (mean)",
             "best sample": f"best of {samples} (most hits)",
             "floor: best random hue": (f"floor: best of {samples} random hues" if samples > 1
                                        else "floor: one random hue per photo")}
    head = "".join(f"{s[:7]:>8s}" for s in HUE_SECTORS)
    lines = [f"  hue hits                              photo  balanced{head}"]
    for row, (per_photo, balanced, sectors) in rates.items():
        if samples == 1 and row in ("all samples", "best sample"):  # the first sample's again
            continue
        cells = "".join(f"{r:8.2f}" for r in sectors)
        lines.append(f"  {names.get(row, row):36s} {per_photo:6.2f} {balanced:9.2f}{cells}")
    return lines


def hue_csv_text(rates):
    """hue_rates as CSV text: one row per line of hue_table."""
    lines = [",".join(["row", "hue_hits", "balanced_hue_hits", *HUE_SECTORS])]
    for row, (per_photo, balanced, sectors) in rates.items():
        lines.append(",".join([row, f"{per_photo:.4f}", f"{balanced:.4f}",
                               *(f"{r:.4f}" for r in sectors)]))
    return "\n".join(lines) + "\n"


def score_photo(samples_rgb, img_orig, gray, random_hues, max_side=None):
    """One row of metrics for the samples of one color photo, with the gray baseline beside, and
    its hue_counts (random_hues: the hues of the random-tint floor).

    max_side scores a large photo on copies at most that many pixels on the long side.
    """
    if max_side:
        samples_rgb = np.stack([shrink(s, max_side) for s in samples_rgb])
        img_orig, gray = shrink(img_orig, max_side), shrink(gray, max_side)
    gray_rgb = gray_to_rgb(gray)
    psnrs = [psnr(s, img_orig) for s in samples_rgb]
    counts = hue_counts(samples_rgb, img_orig, random_hues)
    colored = counts["colored"].sum()
    hit_rates = counts["hits"].sum(1) / colored if colored else np.full(len(samples_rgb), np.nan)
    random_rate = counts["floor_random"].sum(1).max() / colored if colored else np.nan
    return {
        "psnr_gray": psnr(gray_rgb, img_orig), "ssim_gray": ssim(gray_rgb, img_orig),
        "psnr": psnrs[0], "ssim": ssim(samples_rgb[0], img_orig), "psnr_best": max(psnrs),
        "psnr_mean": float(np.mean(psnrs)),
        "colorfulness_first": colorfulness(samples_rgb[0]),
        "colorfulness": float(np.mean([colorfulness(s) for s in samples_rgb])),
        "colorfulness_orig": colorfulness(img_orig),
        "diversity": diversity(samples_rgb),
        "luma_error": float(np.mean([luma_error(s, gray) for s in samples_rgb])),
        "hue_hits_first": float(hit_rates[0]), "hue_hits": float(hit_rates.mean()),
        "hue_hits_best": float(hit_rates.max()), "hue_floor_random": float(random_rate),
        "tint_share": tint_share(samples_rgb),
    }, counts


class PhotoScorer:
    """The scores of one color photo's samples, given one at a time as they are made, so that a
    photo at its own size holds only small copies: at most SCORE_MAX_SIDE pixels on the long
    side, and SCORE_MAX_PIXELS in all its samples together, however many there are."""

    def __init__(self, img_orig, gray, samples, random_hues):
        height, width = gray.shape
        self.max_side = min(SCORE_MAX_SIDE, max(height, width) * math.sqrt(
            SCORE_MAX_PIXELS / (height * width * samples)))
        self.img_orig, self.gray, self.random_hues = img_orig, gray, random_hues
        self.samples_small = []

    def add(self, sample_rgb):
        self.samples_small.append(shrink(sample_rgb, self.max_side))

    def scores(self):
        """score_photo's (row, hue counts) of the samples added."""
        return score_photo(np.stack(self.samples_small), self.img_orig, self.gray,
                           self.random_hues, self.max_side)


def csv_text(rows):
    """Per-photo rows (dicts with the same keys, a "photo" name first) as CSV text."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: inert(value) for key, value in row.items()} for row in rows)
    return text.getvalue()


def inert(value):
    """A cell a spreadsheet shows as it is: text that it would read as a formula (=, +, -, @, or
    a tab or carriage return first) gets a leading apostrophe. Numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def summary_table(rows, counts, samples):
    """Means over the scored photos, gray baseline beside the model, then the hue measures
    (counts: each photo's hue_counts), as printable lines; rows about several samples only
    where there are several."""
    mean = {k: float(np.nanmean([r[k] for r in rows])) if any(np.isfinite(r[k]) for r in rows)
            else float("nan") for k in rows[0] if k != "photo"}
    orig = mean["colorfulness_orig"] or float("nan")
    line = "  {:38s} {:>8s}  {:>6s}   {:>12s}".format
    several = [
        line(f"all {samples} samples (mean PSNR, mean color)", f"{mean['psnr_mean']:.2f}", "",
             f"{mean['colorfulness']:.1f}"),
        line(f"best of {samples} (PSNR)", f"{mean['psnr_best']:.2f}", "", ""),
    ]
    spread = (f"colorfulness ratio {mean['colorfulness'] / orig:.2f} over all samples "
              f"({mean['colorfulness_first'] / orig:.2f} for the first), diversity "
              f"{mean['diversity']:.1f} levels, luma error {mean['luma_error']:.2f} levels, "
              f"tint share {mean['tint_share']:.2f}" if samples > 1 else
              f"colorfulness ratio {mean['colorfulness_first'] / orig:.2f}, luma error "
              f"{mean['luma_error']:.2f} levels")
    return "\n".join([
        f"quality on {len(rows)} color photos (means)     PSNR dB    SSIM   colorfulness",
        line("gray baseline", f"{mean['psnr_gray']:.2f}", f"{mean['ssim_gray']:.3f}", "0.0"),
        line("first sample (z = 0)", f"{mean['psnr']:.2f}", f"{mean['ssim']:.3f}",
             f"{mean['colorfulness_first']:.1f}"),
        *(several if samples > 1 else []),
        line("originals", "", "", f"{mean['colorfulness_orig']:.1f}"),
        f"  {spread}",
        *hue_table(hue_rates(counts), samples),
    ])
