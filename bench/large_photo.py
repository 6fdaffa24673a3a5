"""Large photos colored at their own size: test.py's time and peak memory by megapixels.

    python bench/large_photo.py                 # 1.5, 6 and 24 megapixels, 3:2 (about 2 minutes)
    python bench/large_photo.py --megapixels 6 24 48

Each photo is a shared Mini-ImageNet photo (or a bundled one) resized to that many pixels, saved as
JPEG (quality 90), and colored by the released model in a fresh `test.py --samples 1`
process; the time is the process's, less that of the same run on a 0.1-megapixel photo (start-up,
the model's loading, one small photo), so that it grows with the pixels alone, each the fastest of
--rounds runs (a difference of two whole processes is noisy). Peak memory is the process's
maximum resident set (getrusage).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from PIL import Image  # noqa: E402

from colorizer.config import PRETRAINED_DIR, SHARED_SAMPLE_DIR  # noqa: E402

RATIO = 3 / 2
BASE_MEGAPIXELS = 0.1


def photo(megapixels, folder):
    """A 3:2 JPEG of about that many megapixels, in a folder of its own."""
    sources = sorted(SHARED_SAMPLE_DIR.glob("*/*.JPEG")) or [REPO / "test_images" / "coffee.png"]
    height = round((megapixels * 1e6 / RATIO) ** 0.5)
    out = folder / f"mp{megapixels:g}"
    out.mkdir()
    with Image.open(sources[0]) as img:
        img.convert("RGB").resize((round(height * RATIO), height), Image.Resampling.BICUBIC).save(
            out / "photo.jpg", quality=90)
    return out


def colored(folder, output):
    """(seconds, peak MiB) of test.py coloring the photo in folder at its own size."""
    code = ("import resource, runpy, sys; sys.argv = sys.argv[1:]\n"
            "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "finally:\n    print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, str(REPO / "test.py"), "--input", str(folder),
                             "--output", str(output), "--models", str(PRETRAINED_DIR),
                             "--samples", "1"], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"large_photo.py: test.py failed:\n{result.stderr[-2000:]}")
    peak = int(result.stdout.split("PEAK")[-1])
    return seconds, peak


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--megapixels", type=float, nargs="+", default=[1.5, 6, 24])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        folders = {mp: photo(mp, work) for mp in [BASE_MEGAPIXELS, *args.megapixels]}
        runs = {mp: [colored(folder, work / f"out{mp:g}-{r}") for r in range(args.rounds)]
                for mp, folder in folders.items()}
        base_s, base_peak = min(runs[BASE_MEGAPIXELS])
        rows = [(mp, min(s for s, _ in runs[mp]) - base_s, max(m for _, m in runs[mp]))
                for mp in args.megapixels]
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "native")
    print(f"test.py --samples 1 (each photo at its own size), the released model, {os.cpu_count()} CPU cores, "
          f"oneDNN ISA {isa}; start-up and a {BASE_MEGAPIXELS:g}-megapixel photo: "
          f"{base_s:.1f} s, {base_peak} MiB")
    print(f"{'megapixels':>10s} {'seconds':>8s} {'per megapixel':>14s} {'peak MiB':>9s}")
    for megapixels, seconds, peak in rows:
        print(f"{megapixels:10g} {seconds:8.2f} {seconds / megapixels:14.3f} {peak:9d}")
    if len(rows) > 1:
        (mp_a, s_a, _), (mp_b, s_b, _) = rows[-2], rows[-1]
        print(f"{mp_b:g} against {mp_a:g} megapixels: {s_b / s_a:.2f}x the time for "
              f"{mp_b / mp_a:g}x the pixels")


if __name__ == "__main__":
    main()
