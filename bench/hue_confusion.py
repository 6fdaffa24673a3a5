"""Where each hue goes: for the colored pixels of each hue sector of the originals, the share the
first colorization paints in each sector (or leaves about gray), from a test.py output folder.

    python bench/hue_confusion.py bench/runs/release/outputs/Mini-ImageNet/default_CVAE
    python bench/hue_confusion.py OUT --sample 3        # the third colorization instead

Uses the hue measure's own definitions (colorizer/metrics.py): opponent hue and chroma of 8-bit
RGB, colored pixels where the original's chroma is at least 20, "gray" where the output's
chroma is under 6 (a miss however right its hue). Rows sum to 1.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from colorizer.config import OUTPUTS_FILE  # noqa: E402
from colorizer.outputs import read_photo_entries  # noqa: E402
from colorizer.metrics import (COLORED_CHROMA, HIT_CHROMA, HUE_SECTORS, hue_and_chroma,  # noqa: E402
                               hue_sector)


def confusion(output_dir, sample):
    """(7 × 7 pixel counts: original sector × painted sector or gray, last column gray;
    painted chroma per original sector as a list of arrays)."""
    counts = np.zeros((6, 7))
    chromas = [[] for _ in range(6)]
    for entry in read_photo_entries(output_dir):
        if not entry["original"] or sample > len(entry["samples"]):
            continue
        with Image.open(output_dir / entry["original"]) as img:
            hue_orig, chroma_orig = hue_and_chroma(np.asarray(img.convert("RGB")))
        with Image.open(output_dir / entry["samples"][sample - 1]) as img:
            hue_out, chroma_out = hue_and_chroma(np.asarray(img.convert("RGB")))
        colored = chroma_orig >= COLORED_CHROMA
        source = hue_sector(hue_orig[colored])
        painted = np.where(chroma_out[colored] < HIT_CHROMA, 6, hue_sector(hue_out[colored]))
        np.add.at(counts, (source, painted), 1)
        for s in range(6):
            chromas[s].append(chroma_out[colored][source == s])
    return counts, [np.concatenate(c) if c else np.zeros(0) for c in chromas]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", type=Path, help="a test.py --output folder")
    p.add_argument("--sample", type=int, default=1, help="which colorization of each photo, from 1")
    args = p.parse_args()
    if not (args.output / OUTPUTS_FILE).is_file():
        sys.exit(f"hue_confusion.py: no {OUTPUTS_FILE} in {args.output}: run test.py into it first")
    counts, chromas = confusion(args.output, args.sample)
    columns = [s[:11] for s in HUE_SECTORS] + ["gray"]
    print(f"{'original sector':16s} {'pixels':>9s}  " + " ".join(f"{c:>11s}" for c in columns)
          + "  chroma (median)")
    for s, name in enumerate(HUE_SECTORS):
        total = counts[s].sum()
        shares = counts[s] / total if total else np.full(7, np.nan)
        median = np.median(chromas[s]) if len(chromas[s]) else np.nan
        print(f"{name:16s} {int(total):9d}  " + " ".join(f"{v:11.2f}" for v in shares)
              + f"  {median:15.1f}")


if __name__ == "__main__":
    main()
