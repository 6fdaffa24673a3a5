"""Quality benchmark: the gray baseline, the original project's variant and the default CVAE,
scored on held-out Mini-ImageNet photos, Caltech-101 photos, and scenes and flowers.

    python bench/quality.py                        # 30 minutes of training per model (~70 min)
    python bench/quality.py --minutes 5            # a quicker look
    python bench/quality.py --variant default      # train and score one variant only
    python bench/quality.py --train-args "--width 16" --work bench/runs/quality-w16   # a trial
    python bench/quality.py --test-only            # score the models trained before again
    python bench/quality.py --test-only --also "previous=DIR"   # score another decoder beside
    python bench/quality.py --test-only --temperature 1.5     # the drawn samples at another τ
    python bench/quality.py --test-only --seen     # also photos it trained on: what it learned
    make release       # the released model: --variant default, the Makefile's minutes and --work

Holds out photos by a fixed rule (bench/heldout.py: crc32 of the photo's path inside its dataset:
modulo 5 is 0 for Mini-ImageNet, modulo 20 is 0 for Caltech-101 and the scenes and flowers), runs the real pipeline on all the rest (cleanup,
augment, train with --max-minutes), colorizes each held-out set with --samples 8 and prints one
table per set. With --seen, also about as many of each set's training photos, by a like rule (the
remainder 1; train.py's validation split keeps a tenth of them), to tell what the model learned
from what it recalls. The photos come from ../shared/data, or from --mini-imagenet, --caltech and
--more-photos (the last two are left out where missing).
"""

import argparse
import csv
import re
import shlex
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer.config import (DECODER_FILE, SHARED_CALTECH_DIR, SHARED_MORE_DIR,  # noqa: E402
                              SHARED_SAMPLE_DIR, TEMPERATURE)
from colorizer.scripts import run_script  # noqa: E402
from heldout import SETS, fold, photos  # noqa: E402

# The original project: an encoder that sees the gray alone, no backbone, every color alike.
VARIANTS = {"gray-encoder": ("original project (--encoder-input gray --backbone none)",
                             ["--encoder-input", "gray", "--backbone", "none",
                              "--rebalance-mix", "1", "--latent-dim", "8"]),
            "default": ("default CVAE", [])}
SAMPLES = 8


def run(script, *args):
    result = run_script(script, *args, check=False)
    if result.returncode != 0:
        sys.exit(f"quality.py: {script} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def prepare(work, roots):
    """Links the training photos into one archive and each set's held-out ones into its folder;
    links a sample of the training photos as large into seen_<set>."""
    counts = {}
    for name, root in roots.items():
        every = SETS[name][1]
        if not root.is_dir():
            continue
        paths = photos(root)
        for path in paths:
            relative, remainder = path.relative_to(root), fold(path, root, every)
            flat = "_".join(relative.parts)
            links = ([work / f"test_{name}" / flat] if remainder == 0
                     else [work / "archive" / name / relative])
            if remainder == 1:
                links.append(work / f"seen_{name}" / flat)
            for link in links:
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.exists():
                    link.symlink_to(path)
        n_test = sum(fold(p, root, every) == 0 for p in paths)
        counts[name] = (len(paths) - n_test, n_test)
    return counts


def read_scores(out):
    """Means of test.py's metrics.csv and the rows of its hue.csv."""
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    means = {k: float(np.nanmean([float(r[k]) for r in rows])) for k in rows[0] if k != "photo"}
    with open(out / "hue.csv") as f:
        hue = {r["row"]: {k: float(v) for k, v in r.items() if k != "row"} for r in csv.DictReader(f)}
    return means, hue, len(rows)


def print_table(set_name, scores, temperature, photos="held-out"):
    (first_means, first_hue, n), = list(scores.values())[:1]
    w = max(40, *map(len, scores))  # the model column, as wide as its longest label
    print(f"\n{set_name}: {n} {photos} color photos, {SAMPLES} samples each "
          f"(τ = {temperature:g}), 112 px")
    print(f"{'':{w}s} {'---- first sample (z = 0) ----':>36s}  {'-------------- all 8 samples --------------':>50s}")
    print(f"{'model':{w}s} {'PSNR':>6s} {'SSIM':>6s} {'color':>5s} {'hue':>5s} {'green':>5s} "
          f"{'blue':>5s}  {'PSNR':>6s} {'best':>6s} {'color':>5s} {'divers':>6s} {'tint':>5s} "
          f"{'hue':>5s} {'best':>5s} {'green':>5s} {'blue':>5s}")
    gray = first_means["psnr_gray"]
    print(f"{'gray baseline':{w}s} {gray:6.2f} {first_means['ssim_gray']:6.3f} {0:5.2f} {0:5.2f} "
          f"{0:5.2f} {0:5.2f}  {gray:6.2f} {gray:6.2f} {0:5.2f} {0:6.1f} {'':>5s} {0:5.2f} {0:5.2f}")
    for name, (m, hue, _) in scores.items():
        orig = m["colorfulness_orig"]
        first, every, best = hue["first sample"], hue["all samples"], hue["best sample"]
        print(f"{name:{w}s} {m['psnr']:6.2f} {m['ssim']:6.3f} {m['colorfulness_first'] / orig:5.2f} "
              f"{first['balanced_hue_hits']:5.2f} {first['green']:5.2f} {first['cyan/blue']:5.2f}  "
              f"{m['psnr_mean']:6.2f} {m['psnr_best']:6.2f} {m['colorfulness'] / orig:5.2f} "
              f"{m['diversity']:6.1f} {m['tint_share']:5.2f} {every['balanced_hue_hits']:5.2f} "
              f"{best['balanced_hue_hits']:5.2f} {every['green']:5.2f} {every['cyan/blue']:5.2f}")
    for floor in ("floor: one hue", "floor: best random hue"):
        row = first_hue[floor]
        label = floor if "random" not in floor else f"floor: best of {SAMPLES} random hues"
        print(f"{label:{w}s} {'':6s} {'':6s} {'':5s} {row['balanced_hue_hits']:5.2f} "
              f"{row['green']:5.2f} {row['cyan/blue']:5.2f}")
    sectors = [k for k in first_hue["first sample"] if "hue_hits" not in k]
    print(f"\n{'hue hits per sector of the original':40s} " + " ".join(f"{s[:11]:>11s}" for s in sectors))
    rows = [(f"{name[:38 - len(row)]}: {row}", hue[row]) for name, (_, hue, _) in scores.items()
            for row in ("first sample", "all samples", "best sample")]  # the row's name kept whole
    rows += [(floor, first_hue[floor]) for floor in ("floor: one hue", "floor: best random hue")]
    for label, row in rows:
        print(f"{label[:40]:40s} " + " ".join(f"{row[s]:11.2f}" for s in sectors))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30, help="training minutes per model")
    p.add_argument("--work", default=str(REPO / "bench" / "runs" / "quality"))
    p.add_argument("--variant", choices=VARIANTS, action="append",
                   help="train and score only this variant (repeatable); default: all")
    p.add_argument("--train-args", default="", metavar="ARGS",
                   help='more train.py options for every variant, e.g. "--width 16" (use its own --work)')
    p.add_argument("--test-only", action="store_true", help="reuse the models trained in --work")
    p.add_argument("--temperature", type=float, default=TEMPERATURE,
                   help="test.py's spread of the drawn samples")
    p.add_argument("--also", action="append", default=[], metavar="LABEL=DIR",
                   help="also score the decoder in DIR (trained elsewhere) under LABEL")
    p.add_argument("--seen", action="store_true",
                   help="also score photos the models trained on (the original project's and "
                        "the default's; --also's may have trained on others)")
    p.add_argument("--mini-imagenet", type=Path, default=SHARED_SAMPLE_DIR, metavar="DIR",
                   help="Mini-ImageNet's images/ folder (<wnid>/*.JPEG)")
    p.add_argument("--caltech", type=Path, default=SHARED_CALTECH_DIR, metavar="DIR",
                   help="Caltech-101's folder of <category>/*.jpg; left out where missing")
    p.add_argument("--more-photos", type=Path, default=SHARED_MORE_DIR, metavar="DIR",
                   help="the scenes and flowers, <source>/<category>/*.jpg; left out where "
                        "missing")
    args = p.parse_args()
    if not args.mini_imagenet.is_dir():
        sys.exit(f"quality.py: no Mini-ImageNet photos at {args.mini_imagenet}: name them with "
                 "--mini-imagenet")
    work = Path(args.work)
    variants = {key: VARIANTS[key] for key in args.variant or VARIANTS}
    also = dict(item.split("=", 1) for item in args.also)
    models = {label: work / f"models-{key}" for key, (label, _) in variants.items()}
    models.update({label: Path(d) for label, d in also.items()})
    if args.test_only and not all((m / DECODER_FILE).is_file() for m in models.values()):
        sys.exit(f"quality.py: no trained models in {work}/: run without --test-only first")
    counts = prepare(work, {"Mini-ImageNet": args.mini_imagenet, "Caltech-101": args.caltech,
                            "Scenes-flowers": args.more_photos})
    for name, (n_train, n_test) in counts.items():
        print(f"{name}: {n_train} training photos, {n_test} held out")
    if not args.test_only:
        print(f"{args.minutes:g} min of training each")
        print(run("cleanup_data.py", "--source", work / "archive", "--output", work / "images"),
              end="")
        print(run("augment_data.py", "--images", work / "images"), end="")
        for key, (label, extra) in variants.items():
            log = run("train.py", "--images", work / "images", "--models", models[label],
                      "--epochs", 10000, "--max-minutes", args.minutes, *extra,
                      *shlex.split(args.train_args))
            print(f"{label}: " + re.findall(r"^train\.py: trained.*$", log, re.M)[-1])

    temperature_suffix = "" if args.temperature == TEMPERATURE else f"_t{args.temperature:g}"
    kinds = [("test", "held-out", "")] + ([("seen", "trained-on", "_seen")] if args.seen else [])
    for set_name in counts:
        for kind, photos, suffix in kinds:
            scores = {}
            for label, model_dir in models.items():
                out = (work / "outputs" / set_name
                       / (re.sub(r"[^A-Za-z0-9.-]+", "_", label) + temperature_suffix + suffix))
                run("test.py", "--square", "--input", work / f"{kind}_{set_name}", "--output", out,
                    "--models", model_dir, "--samples", SAMPLES, "--seed", 0,
                    "--temperature", args.temperature)
                scores[label] = read_scores(out)
            print_table(set_name, scores, args.temperature, photos)
    print("\ncolor: colorfulness over the originals'; hue, green, blue: balanced hue hits and the "
          "green and cyan/blue sectors' rates; best: of the 8, the best sample of each photo; "
          "tint: tint share; PSNR under all 8: mean of the samples")


if __name__ == "__main__":
    main()
