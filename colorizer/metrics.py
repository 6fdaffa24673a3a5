"""How good a colorization is: fidelity to the original, colorfulness, and spread between samples.

All functions take uint8 RGB arrays (H, W, 3); samples are stacked (N, H, W, 3).
"""

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

from .color import rgb_to_gray


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


def score_photo(samples_rgb, img_orig, gray, max_side=None):
    """One row of metrics for the samples of one color photo, with the gray baseline beside.

    max_side scores a large photo on copies at most that many pixels on the long side.
    """
    if max_side:
        samples_rgb = np.stack([shrink(s, max_side) for s in samples_rgb])
        img_orig, gray = shrink(img_orig, max_side), shrink(gray, max_side)
    gray_rgb = np.repeat(gray[..., None], 3, axis=-1)
    psnrs = [psnr(s, img_orig) for s in samples_rgb]
    return {
        "psnr_gray": psnr(gray_rgb, img_orig), "ssim_gray": ssim(gray_rgb, img_orig),
        "psnr": psnrs[0], "ssim": ssim(samples_rgb[0], img_orig), "psnr_best": max(psnrs),
        "colorfulness_first": colorfulness(samples_rgb[0]),
        "colorfulness": float(np.mean([colorfulness(s) for s in samples_rgb])),
        "colorfulness_orig": colorfulness(img_orig),
        "diversity": diversity(samples_rgb),
        "luma_error": float(np.mean([luma_error(s, gray) for s in samples_rgb])),
    }


def write_csv(rows, path):
    """Per-photo rows (dicts with the same keys, a "photo" name first) as CSV."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def summary_table(rows, samples):
    """Means over the scored photos, gray baseline beside the model, as printable lines."""
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "photo"}
    orig = mean["colorfulness_orig"] or float("nan")
    line = "  {:38s} {:>8s}  {:>6s}   {:>12s}".format
    return "\n".join([
        f"quality on {len(rows)} color photos (means)     PSNR dB    SSIM   colorfulness",
        line("gray baseline", f"{mean['psnr_gray']:.2f}", f"{mean['ssim_gray']:.3f}", "0.0"),
        line("first sample (z = 0)", f"{mean['psnr']:.2f}", f"{mean['ssim']:.3f}",
             f"{mean['colorfulness_first']:.1f}"),
        line(f"all {samples} samples (best PSNR, mean color)", f"{mean['psnr_best']:.2f}", "",
             f"{mean['colorfulness']:.1f}"),
        line("originals", "", "", f"{mean['colorfulness_orig']:.1f}"),
        f"  colorfulness ratio {mean['colorfulness'] / orig:.2f} over all samples "
        f"({mean['colorfulness_first'] / orig:.2f} for the first), diversity "
        f"{mean['diversity']:.1f} levels, luma error {mean['luma_error']:.2f} levels",
    ])
