"""The color laid on a full-size gray: bilinear (test.py's) against an edge-aware upsampling guided
by the gray (He, Sun and Tang 2013's guided filter, a few box filters), on held-out photos.

    python bench/upsampling.py                          # Mini-ImageNet's held-out photos
    python bench/upsampling.py --crops docs/upsampling.png

Each held-out Mini-ImageNet photo (the largest real color photos at hand: ImageNet originals of
about 500 × 375) is colored at its own size from z = 0 by the released model, its chroma blended
from the model's tiles (colorizer.tiling), then resized to the photo bilinearly, or bilinearly
and then guided-filtered with the full-size gray as the guide. Printed: PSNR and balanced hue of
each against the originals, and the chroma error (CIELAB a*b*, mean distance) within 3 px of the
gray's strong edges (Canny) and elsewhere: where an edge-aware upsampling should help.
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer.color import is_grayscale, merge, rgb_to_gray  # noqa: E402
from colorizer.config import DECODER_FILE, PRETRAINED_DIR, SHARED_SAMPLE_DIR  # noqa: E402
from colorizer.images import open_rgb  # noqa: E402
from colorizer.metrics import hue_rates, score_photo  # noqa: E402
from colorizer.tiling import Tiling  # noqa: E402
from heldout import held_out  # noqa: E402

RADIUS, EPSILON = 8, 1e-3  # the guided filter's window (pixels) and smoothing, gray on 0-1


def guided(guide, values, radius=RADIUS, eps=EPSILON):
    """He et al.'s guided filter: values (H, W, C) made to follow guide (H, W) on 0-1."""
    box = lambda x: cv2.boxFilter(x, -1, (2 * radius + 1,) * 2)  # noqa: E731
    mean_i = box(guide)
    var_i = box(guide * guide) - mean_i**2
    out = np.empty_like(values)
    for c in range(values.shape[-1]):
        p = values[..., c]
        mean_p = box(p)
        a = (box(guide * p) - mean_i * mean_p) / (var_i + eps)
        b = mean_p - a * mean_i
        out[..., c] = box(a) * guide + box(b)
    return out


def ab(img_rgb):
    lab = cv2.cvtColor(img_rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    return lab[..., 1:]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--crops", type=Path, help="also write side-by-side crops to this PNG")
    args = p.parse_args()
    from colorizer.inference import Colorizer

    colorizer = Colorizer.load(PRETRAINED_DIR / DECODER_FILE)
    photos = [np.asarray(open_rgb(path)) for path in held_out(SHARED_SAMPLE_DIR, 5)]
    photos = [img for img in photos if not is_grayscale(img)]
    tilings = [Tiling(rgb_to_gray(img), colorizer.size) for img in photos]
    chromas = dict(colorizer.photo_chromas(tilings, np.zeros((len(photos), colorizer.latent_dim),
                                                              np.float32)))
    results = {"bilinear": ([], [], [], []), "guided": ([], [], [], [])}
    crops = []
    for i, img_rgb in enumerate(photos):
        gray = rgb_to_gray(img_rgb)
        height, width = gray.shape
        bilinear = cv2.resize(chromas[i][0], (width, height), interpolation=cv2.INTER_LINEAR)
        edges = cv2.dilate(cv2.Canny(gray, 100, 200), np.ones((7, 7), np.uint8)) > 0
        for name, chroma in (("bilinear", bilinear),
                             ("guided", guided(gray.astype(np.float32) / 255, bilinear))):
            sample = merge(gray, chroma)
            row, counts = score_photo(sample[None], img_rgb, gray, [0.0])
            error = np.linalg.norm(ab(sample) - ab(img_rgb), axis=-1)
            for store, value in zip(results[name], (row["psnr"], counts, error[edges].mean(),
                                                    error[~edges].mean())):
                store.append(value)
            if args.crops and i < 4:
                crops.append(sample[:160, :240])
    print(f"{len(photos)} held-out Mini-ImageNet photos at their own size, first colorization; "
          f"guided filter r = {RADIUS}, ε = {EPSILON}")
    print(f"{'upsampling':10s} {'PSNR':>6s} {'hue':>5s} {'a*b* error at edges':>20s} "
          f"{'elsewhere':>10s}")
    for name, (psnrs, counts, at_edges, elsewhere) in results.items():
        print(f"{name:10s} {np.mean(psnrs):6.2f} {hue_rates(counts)['first sample'][1]:5.2f} "
              f"{np.mean(at_edges):20.2f} {np.mean(elsewhere):10.2f}")
    if args.crops:
        from colorizer.figures import grid

        grid([crops[k:k + 2] for k in range(0, len(crops), 2)]).save(args.crops, optimize=True)
        print(f"crops (per row: bilinear, guided) -> {args.crops}")


if __name__ == "__main__":
    main()
