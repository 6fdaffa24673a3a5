"""Decoder batch benchmark: test.py's decoding (colorizer.inference.predict_chroma) at several
batch sizes, colorizations/s and the process's peak memory, for one saved decoder.

    python bench/decoder_batch.py                        # the released decoder, about 3 minutes
    python bench/decoder_batch.py --models DIR --sizes 8,16,256

Each size runs in its own process (peak memory is a process's), the sizes taking turns over the
rounds so that a minute when the machine is slower falls on all of them alike; the table gives
each size's median over the rounds.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer.config import DECODER_BATCH, DECODER_FILE, PRETRAINED_DIR, SHARED_SAMPLE_DIR  # noqa: E402

SAMPLES = 8


def one_size(models, batch_size, photos):
    """Colorizations/s and peak MB of decoding `photos` Mini-ImageNet grays, SAMPLES each."""
    from colorizer.color import rgb_to_gray
    from colorizer.images import open_rgb, square
    from colorizer.inference import Colorizer

    colorizer = Colorizer.load(Path(models) / DECODER_FILE)
    size = colorizer.size
    paths = sorted(SHARED_SAMPLE_DIR.glob("*/*.JPEG"))[:photos]
    grays = np.stack([rgb_to_gray(np.asarray(square(open_rgb(p, size), size))) for p in paths])
    z = colorizer.prior_z(len(grays), SAMPLES, seed=0)
    colorizer.predict_chroma(grays[:4], z[:4 * SAMPLES], batch_size)  # traces the graphs
    start = time.perf_counter()
    colorizer.predict_chroma(grays, z, batch_size)
    rate = len(z) / (time.perf_counter() - start)
    print(rate, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=str(PRETRAINED_DIR), help="folder of the decoder")
    p.add_argument("--sizes", default=f"8,{DECODER_BATCH},32,64,256",
                   help="colorizations per decoder call, comma-separated")
    p.add_argument("--photos", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a size, in its own process
    args = p.parse_args()
    if args.one:
        return one_size(args.models, args.one, args.photos)
    if not SHARED_SAMPLE_DIR.is_dir():
        sys.exit(f"decoder_batch.py: no Mini-ImageNet photos at {SHARED_SAMPLE_DIR}")
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    runs = {size: [] for size in sizes}
    for _ in range(args.rounds):
        for size in sizes:
            out = subprocess.run([sys.executable, __file__, "--models", args.models,
                                  "--photos", str(args.photos), "--one", str(size)],
                                 capture_output=True, text=True, check=True).stdout
            runs[size].append([float(x) for x in out.split()])
    print(f"{args.models}: {args.photos} photos x {SAMPLES} samples, median of {args.rounds} "
          f"rounds, {os.environ.get('ONEDNN_MAX_CPU_ISA', 'native ISA')}")
    print(f"{'colorizations per call':>24s} {'colorizations/s':>16s} {'peak MB':>8s}")
    for size, rows in runs.items():
        rate, peak = np.median(rows, axis=0)
        print(f"{size:24d} {rate:16.1f} {peak:8.0f}")


if __name__ == "__main__":
    main()
