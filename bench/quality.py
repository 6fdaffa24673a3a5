"""Quality benchmark: the gray baseline, the original project's variant and the default CVAE.

    python bench/quality.py                  # 30 minutes of training per model (about 65 minutes)
    python bench/quality.py --minutes 5      # a quicker look
    python bench/quality.py --test-only      # colorize and score again with the models trained
                                             # before (after a change to test.py: a few minutes)

Holds out one fifth of the shared Mini-ImageNet sample by a fixed rule (crc32 of the photo's
path, modulo 5, is 0), runs the real pipeline on the rest (cleanup, augment, train with
--max-minutes), colorizes the held-out photos with --samples 8 and prints one table.
"""

import argparse
import csv
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer.config import DECODER_FILE, SHARED_SAMPLE_DIR as SHARED  # noqa: E402
VARIANTS = {"original project (--encoder-input gray)": ["--encoder-input", "gray"],
            "default CVAE (--encoder-input color)": []}
SAMPLES = 8
HELD_OUT_EVERY = 5


def run(script, *args):
    result = subprocess.run([sys.executable, str(REPO / script), *map(str, args)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"quality.py: {script} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def held_out(path):
    return zlib.crc32(path.relative_to(SHARED).as_posix().encode()) % HELD_OUT_EVERY == 0


def prepare(work):
    """Links the training photos into an archive and the held-out ones into test_images/."""
    photos = sorted(SHARED.glob("*/*"))
    for path in photos:
        target = (work / "test_images" / path.name if held_out(path)
                  else work / "archive" / path.parent.name / path.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(path)
    n_test = sum(map(held_out, photos))
    return len(photos) - n_test, n_test


def means(csv_path):
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    return {k: float(np.mean([float(r[k]) for r in rows])) for k in rows[0] if k != "photo"}, len(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30, help="training minutes per model")
    p.add_argument("--work", default=str(REPO / "bench" / "runs" / "quality"))
    p.add_argument("--test-only", action="store_true", help="reuse the models trained in --work")
    args = p.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"quality.py: needs the shared sample at {SHARED}")
    work = Path(args.work)
    if args.test_only and not all((work / f"models{i}" / DECODER_FILE).is_file()
                                  for i in range(len(VARIANTS))):
        sys.exit(f"quality.py: no trained models in {work}/: run without --test-only first")
    n_train, n_test = prepare(work)
    print(f"{n_train} training photos, {n_test} held out; {args.minutes:g} min of training each")
    print(run("cleanup_data.py", "--source", work / "archive", "--output", work / "images"), end="")
    print(run("augment_data.py", "--images", work / "images"), end="")

    results = {}
    for name, extra in VARIANTS.items():
        models, out = work / f"models{len(results)}", work / f"output{len(results)}"
        if args.test_only:
            print(f"{models}/: trained before")
        else:
            log = run("train.py", "--images", work / "images", "--models", models,
                      "--epochs", 10000, "--max-minutes", args.minutes, *extra)
            print(re.findall(r"^train\.py: trained.*$", log, re.M)[-1])
        run("test.py", "--input", work / "test_images", "--output", out, "--models", models,
            "--samples", SAMPLES, "--seed", 0)
        results[name] = means(out / "metrics.csv")

    first, n_scored = next(iter(results.values()))
    print(f"\nheld-out color photos: {n_scored}, {SAMPLES} samples each, 112 px\n")
    print(f"{'model':42s} {'PSNR':>6s} {'SSIM':>6s} {'best-of-8':>9s} {'color':>6s} "
          f"{'ratio':>6s} {'1st':>5s} {'divers.':>7s} {'luma err':>8s}")
    print(f"{'gray baseline':42s} {first['psnr_gray']:6.2f} {first['ssim_gray']:6.3f} "
          f"{first['psnr_gray']:9.2f} {0:6.1f} {0:6.2f} {0:5.2f} {0:7.1f} {0:8.2f}")
    for name, (m, _) in results.items():
        orig = m["colorfulness_orig"]
        print(f"{name:42s} {m['psnr']:6.2f} {m['ssim']:6.3f} {m['psnr_best']:9.2f} "
              f"{m['colorfulness']:6.1f} {m['colorfulness'] / orig:6.2f} "
              f"{m['colorfulness_first'] / orig:5.2f} {m['diversity']:7.1f} {m['luma_error']:8.2f}")
    print(f"{'originals':42s} {'':6s} {'':6s} {'':9s} {first['colorfulness_orig']:6.1f}")
    print("\nPSNR and SSIM: the first sample (z = 0); color and ratio: mean over all 8 samples; "
          "1st: the first sample's ratio")


if __name__ == "__main__":
    main()
