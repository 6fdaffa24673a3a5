"""The README's picture: rows of gray input, samples and original, for photos test.py colored.

    python docs/figure.py test_images test_output docs/colorizations.png --photos 6 --samples 3
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from colorizer.color import is_grayscale, rgb_to_gray  # noqa: E402
from colorizer.config import IMAGE_SIZE  # noqa: E402
from colorizer.figures import grid  # noqa: E402
from colorizer.images import UNREADABLE, open_rgb, square  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input", help="the folder test.py read")
    p.add_argument("output", help="the folder test.py wrote")
    p.add_argument("figure", help="PNG to write")
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--samples", type=int, default=3)
    p.add_argument("--skip", type=int, default=0, help="start after this many color photos")
    args = p.parse_args()
    rows = []
    for path in sorted(p for p in Path(args.input).iterdir() if not p.name.startswith(".")):
        try:
            img_orig = np.asarray(square(open_rgb(path, IMAGE_SIZE)))
        except UNREADABLE:
            continue  # test.py skipped it too
        if is_grayscale(img_orig):
            continue
        samples = [Path(args.output) / (f"{path.stem}.png" if i == 0 else f"{path.stem}_{i + 1}.png")
                   for i in range(args.samples)]
        gray_rgb = np.repeat(rgb_to_gray(img_orig)[..., None], 3, -1)
        rows.append([gray_rgb, *(np.asarray(open_rgb(s)) for s in samples), img_orig])
    rows = rows[args.skip:args.skip + args.photos]
    # A 256-color palette keeps the committed picture small; dithering hides the banding.
    grid(rows).quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(args.figure, optimize=True)
    print(f"figure.py: {len(rows)} photos: gray, {args.samples} samples, original -> {args.figure}")


if __name__ == "__main__":
    main()
