"""How the model should see a photo colored at its own size: squeezed to its square, or whole.

    python bench/framing.py                        # the released model, both held-out sets
    python bench/framing.py --models DIR           # another decoder

The held-out photos of bench/quality.py (crc32 of the path: Mini-ImageNet's fold 0 of 5, the
ImageNet originals of about 500 × 375; Caltech-101's fold 0 of 20), each colored at its own size
from z = 0 and scored against its original (at most 1,024 px on the long side), as test.py does.
The model reads the gray of each photo framed one of these ways, and its chroma is laid onto the
full-size gray:

- squeezed: the whole photo resized to the model's square, its proportions lost (a 3:2 photo's
  round things turn oval for the backbone);
- padded: the whole photo resized so its long side is the square's, its proportions kept, the
  rest of the square filled with the photo's edge rows or columns (the chroma there is cut away);
- cropped: the center square only, as the original project colored (the rest of the photo
  takes the chroma of the crop's nearest edge);
- tiled (test.py's, colorizer.tiling): squares of the photo's short side, as few as cover it,
  spread evenly along the long side, each seen as the model saw its training squares; their
  chroma blended where they overlap, each weighing less toward its edges.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer.color import is_grayscale, merge_resized, rgb_to_gray  # noqa: E402
from colorizer.config import DECODER_FILE, PRETRAINED_DIR  # noqa: E402
from colorizer.images import open_rgb  # noqa: E402
from colorizer.metrics import hue_rates, score_photo  # noqa: E402
from colorizer.tiling import Tiling  # noqa: E402
from heldout import SETS, held_out  # noqa: E402

SCORE_SIDE = 1024


def resized(gray, height, width):
    return np.asarray(Image.fromarray(gray).resize((width, height), Image.Resampling.BICUBIC))


def squeezed(gray, size):
    """([the model's gray], combine(chromas) -> the chroma at the photo's size)."""
    height, width = gray.shape
    return [resized(gray, size, size)], lambda chromas: resample(chromas[0], height, width)


def padded(gray, size):
    height, width = gray.shape
    scale = size / max(height, width)
    inner = (max(1, round(height * scale)), max(1, round(width * scale)))
    top, left = (size - inner[0]) // 2, (size - inner[1]) // 2
    framed = np.pad(resized(gray, *inner), ((top, size - inner[0] - top),
                                            (left, size - inner[1] - left)), mode="edge")
    return [framed], lambda chromas: resample(
        chromas[0][top:top + inner[0], left:left + inner[1]], height, width)


def cropped(gray, size):
    height, width = gray.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    scale = size / side
    box = (-top * scale, (height - top) * scale, -left * scale, (width - left) * scale)
    return ([resized(gray[top:top + side, left:left + side], size, size)],
            lambda chromas: resample(chromas[0], height, width, box))


def tiled(gray, size):
    """test.py's way (colorizer.tiling)."""
    height, width = gray.shape
    tiling = Tiling(gray, size)
    return tiling.tiles, lambda chromas: resample(
        tiling.blend([c[None] for c in chromas])[0], height, width)


FRAMINGS = {"squeezed": squeezed, "padded": padded, "cropped": cropped, "tiled": tiled}


def resample(chroma, height, width, box=None):
    """chroma (h, w, 2) over box (top, bottom, left, right in its pixels; default: all of it)
    resampled bilinearly to height × width, edges repeated."""
    import cv2

    top, bottom, left, right = box or (0, chroma.shape[0], 0, chroma.shape[1])
    rows = np.clip(top + (np.arange(height) + 0.5) * (bottom - top) / height - 0.5, 0,
                   chroma.shape[0] - 1)
    cols = np.clip(left + (np.arange(width) + 0.5) * (right - left) / width - 0.5, 0,
                   chroma.shape[1] - 1)
    map_x, map_y = np.meshgrid(cols.astype(np.float32), rows.astype(np.float32))
    return cv2.remap(np.ascontiguousarray(chroma, np.float32), map_x, map_y, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=Path, default=PRETRAINED_DIR)
    args = p.parse_args()
    from colorizer.inference import Colorizer

    colorizer = Colorizer.load(args.models / DECODER_FILE)
    size, z = colorizer.size, colorizer.prior_z(1, 1)  # z = 0
    print(f"{args.models / DECODER_FILE}: first colorization (z = 0) at each photo's own size")
    print(f"{'set':14s} {'framing':9s} {'photos':>6s} {'PSNR':>6s} {'gray':>6s} {'hue':>5s} "
          f"{'green':>5s} {'blue':>5s} {'color':>5s}")
    for set_name, (root, every) in SETS.items():
        if not root.is_dir():
            continue
        photos = [np.asarray(open_rgb(path)) for path in held_out(root, every)]
        photos = [img for img in photos if not is_grayscale(img)]
        for name, frame in FRAMINGS.items():
            counts, psnrs, grays, colors, colors_orig = [], [], [], [], []
            framed = [frame(rgb_to_gray(img_rgb), size) for img_rgb in photos]
            grays_small = np.stack([g for tiles, _ in framed for g in tiles])
            chromas = iter(colorizer.predict_chroma(grays_small,
                                                    np.repeat(z, len(grays_small), axis=0)))
            for img_rgb, (tiles, combine) in zip(photos, framed):
                gray = rgb_to_gray(img_rgb)
                sample = merge_resized(gray, combine([next(chromas) for _ in tiles]))
                row, count = score_photo(sample[None], img_rgb, gray, [0.0],
                                         max_side=SCORE_SIDE)
                counts.append(count)
                psnrs.append(row["psnr"])
                grays.append(row["psnr_gray"])
                colors.append(row["colorfulness_first"])
                colors_orig.append(row["colorfulness_orig"])
            first = hue_rates(counts)["first sample"]
            sectors = dict(zip(("red/orange", "yellow", "green", "cyan/blue", "blue/violet",
                                "magenta"), first[2]))
            print(f"{set_name:14s} {name:9s} {len(photos):6d} {np.mean(psnrs):6.2f} "
                  f"{np.mean(grays):6.2f} {first[1]:5.2f} {sectors['green']:5.2f} "
                  f"{sectors['cyan/blue']:5.2f} {np.mean(colors) / np.mean(colors_orig):5.2f}", flush=True)


if __name__ == "__main__":
    main()
