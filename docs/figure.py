"""The README's pictures: per photo its gray input, the colorizations of one or more test.py
runs side by side, and the original where it is in color.

    python docs/figure.py docs/colorizations.png test_output --photos 6 --samples 3
    python docs/figure.py docs/colorizations.png OUT_PREVIOUS OUT_NEW --samples 1 3 --only a.JPEG b.jpg
    python docs/figure.py docs/released.png OUT --samples 3 --height 400 --only camera.png
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from colorizer.config import OUTPUTS_FILE  # noqa: E402
from colorizer.outputs import read_photo_entries  # noqa: E402
from colorizer.figures import grid  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("figure", help="PNG to write")
    p.add_argument("outputs", nargs="+", help="folders test.py wrote, shown left to right")
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--samples", type=int, nargs="+", default=[3],
                   help="colorizations from each folder (one number for all, or one each)")
    p.add_argument("--skip", type=int, default=0, help="start after this many photos")
    p.add_argument("--only", nargs="*", help="these photos (file names), in this order")
    p.add_argument("--height", type=int, help="each picture resized to this height, its "
                                                "proportions kept (default: as written)")
    args = p.parse_args()
    runs = []
    for out in map(Path, args.outputs):
        manifest = out / OUTPUTS_FILE
        if not manifest.is_file():
            sys.exit(f"figure.py: no {manifest}: run test.py into {out}/ first")
        runs.append({e["photo"]: e for e in read_photo_entries(out)})
    samples = args.samples * len(runs) if len(args.samples) == 1 else args.samples
    if len(samples) != len(runs):
        sys.exit("figure.py: give --samples one number, or one for each folder")
    names = args.only or [n for n in runs[0] if all(n in r for r in runs)]
    names = names[args.skip:args.skip + args.photos] if not args.only else names
    def load(out, name):
        with Image.open(out / name) as img:
            img = img.convert("RGB")
            if args.height:
                img = img.resize((round(img.width * args.height / img.height), args.height),
                                 Image.Resampling.LANCZOS)
            return np.asarray(img)

    rows = []
    for name in names:
        first = runs[0][name]
        row = [load(Path(args.outputs[0]), first["gray"])]
        for out, run, n in zip(map(Path, args.outputs), runs, samples):
            row += [load(out, s) for s in run[name]["samples"][:n]]
        if first["original"]:
            row.append(load(Path(args.outputs[0]), first["original"]))
        rows.append(row)
    # A 256-color palette keeps the committed picture small; dithering hides the banding.
    grid(rows).quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(args.figure, optimize=True)
    print(f"figure.py: {len(rows)} photos: gray, {samples} from {len(runs)} runs, original "
          f"-> {args.figure}")


if __name__ == "__main__":
    main()
