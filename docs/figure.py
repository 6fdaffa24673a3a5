"""The README's picture: rows of gray input, samples and original, from a test.py output folder.

    python docs/figure.py bench/runs/quality/output1 docs/colorizations.png --photos 6 --samples 3
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from colorizer.figures import grid  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", help="a folder test.py wrote (with gallery/)")
    p.add_argument("figure", help="PNG to write")
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--samples", type=int, default=3)
    args = p.parse_args()
    out = Path(args.output)
    originals = sorted((out / "gallery").glob("*_original.png"))[:args.photos]
    load = lambda path: np.asarray(Image.open(path).convert("RGB"))
    rows = []
    for original in originals:
        stem = original.name.removesuffix("_original.png")
        samples = [out / (f"{stem}.png" if i == 0 else f"{stem}_{i + 1}.png")
                   for i in range(args.samples)]
        rows.append([load(out / "gallery" / f"{stem}_gray.png"), *map(load, samples), load(original)])
    grid(rows).save(args.figure, optimize=True)
    print(f"figure.py: {len(rows)} photos x ({args.samples} samples + gray + original) -> {args.figure}")


if __name__ == "__main__":
    main()
