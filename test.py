"""Colorize every photo in test_images/ (or one photo) with the trained decoder, into test_output/.

    python test.py
    python test.py --samples 4 --seed 0    # four different colorizations of each, reproducible
    python test.py --input photo.jpg       # one photo

Each photo is center-cropped and resized to the model's size (112×112), turned to gray, and
colored: test_output/<stem>.png from z = 0, the center of the prior (the model's most typical
colorization), then <stem>_2.png … <stem>_N.png from z drawn from N(0, τ² I), τ = --temperature.
With --full-res the whole photo is colored at its own size: the model sees it squeezed to
112×112, and the predicted color is resized and laid onto the full-resolution gray.
test_output/index.html shows every photo: gray input, samples, original, scores.
Photos in color are also scored against their cropped original, beside the gray baseline:
per-photo rows in test_output/metrics.csv, hue hits per hue sector in test_output/hue.csv (with
two floors: one hue for every photo, and the best of N random hues), and a table of means.
Grayscale photos are only colored. test_output/outputs.json lists each photo's files; the next
run into the same folder removes those it does not write again, and nothing else. The output
folder is never the photos' own.
Needs only models/main_vae_decoder.keras; without one (and without --models) it colors with the
released model in pretrained/, and says so.
"""

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from colorizer import config, import_keras
from colorizer.cli import positive_float, positive_int, run, seed, up_to
from colorizer.color import is_grayscale, merge_resized, rgb_to_gray
from colorizer.figures import gallery_html
from colorizer.images import (UNREADABLE, folders_overlap, open_rgb, output_stems, sample_name,
                              save_png, save_text, square, unreadable_reason, unusable_reason)
from colorizer.metrics import (RANDOM_FLOOR_SEED, csv_text, hue_csv_text, hue_rates, score_photo,
                               summary_table)

# -----------------------------------------------------------------------------
THREADS = min(4, os.cpu_count())  # photos read or finished at once; more cost memory with --full-res
METRICS_FILE = "metrics.csv"
HUE_FILE = "hue.csv"  # hue hits pooled over the photos: per sector, with the floors beside
GALLERY_FILE = "index.html"
GALLERY_DIR = "gallery"  # the gray inputs and originals the page shows beside the samples
MIN_SIDE = 8  # pixels; a thinner photo has no colors to speak of, and breaks SSIM's window
MAX_SAMPLES = 100
SCORE_MAX_SIDE = 1024  # --full-res photos are scored at most this many pixels on the long side
# -----------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=config.TEST_IMAGES_DIR,
                   help="folder of photos to colorize, or one photo")
    p.add_argument("--output", default=config.TEST_OUTPUT_DIR, help="folder for the results")
    p.add_argument("--models", default=None,
                   help=f"folder with {config.DECODER_FILE}; default {config.MODELS_DIR}/, or "
                        "the released model where that holds none")
    p.add_argument("--samples", type=up_to(positive_int, MAX_SAMPLES), default=1,
                   help="colorizations per photo")
    p.add_argument("--seed", type=seed, default=None, help="same seed, same pixels")
    p.add_argument("--temperature", type=up_to(positive_float, 10), default=config.TEMPERATURE,
                   help="spread of the drawn samples' z: lower is safer, higher is bolder")
    p.add_argument("--full-res", action="store_true",
                   help="color the whole photo at its own size instead of a 112x112 crop")
    return p.parse_args()


def choose_decoder(models):
    """The decoder to color with: --models' if given, else the user's own in models/, else the
    released one; says in one line which, and how to train one's own."""
    if models is not None:
        path = Path(models) / config.DECODER_FILE
        if not path.is_file():
            sys.exit(f"test.py: no model at {path}: run train.py first (without --models, test.py "
                     "uses the released model)")
        return path
    own = Path(config.MODELS_DIR) / config.DECODER_FILE
    released = config.PRETRAINED_DIR / config.DECODER_FILE
    if own.is_file():
        print(f"test.py: coloring with your model {own}")
        return own
    if not released.is_file():  # a copy of the scripts without the pretrained/ folder
        sys.exit(f"test.py: no model at {own}: run train.py first")
    shown = Path(os.path.relpath(released)) if released.is_relative_to(Path.cwd()) else released
    print(f"test.py: no model of your own in {config.MODELS_DIR}/: coloring with the released model "
          f"{shown} (see {shown.parent / config.MODEL_CARD}); train.py trains yours into "
          f"{config.MODELS_DIR}/")
    return released


def input_photos(input_path):
    """The files to try: the one photo given, or the folder's entries; what can't be a photo
    (folders, broken links, pipes and the like) is named with the reason and left out."""
    if input_path.is_file():
        return [input_path]
    if not input_path.is_dir():
        sys.exit(f"test.py: no photo or folder at {input_path}: put the photos to colorize in "
                 f"{config.TEST_IMAGES_DIR}/ or name them with --input")
    photos = []
    for path in sorted(p for p in input_path.iterdir() if not p.name.startswith(".")):
        if reason := unusable_reason(path):
            print(f"test.py: skipped {path}: {reason}", file=sys.stderr)
        else:
            photos.append(path)
    return photos


def load_photo(path, size, full_res):
    """The photo as test.py colors it: whole, or center-cropped and resized to size×size."""
    return np.asarray(open_rgb(path) if full_res else square(open_rgb(path, size), size))


def load_small(path, size, full_res):
    """(the photo as test.py colors it, None with --full-res: pass 2 reloads it; its gray at the
    model's size), or the reason path is skipped."""
    try:
        img_rgb = load_photo(path, size, full_res)
    except UNREADABLE as err:
        return unreadable_reason(path, err)
    if min(img_rgb.shape[:2]) < MIN_SIDE:
        return (f"{img_rgb.shape[1]}x{img_rgb.shape[0]} pixels, too small to color (at least "
                f"{MIN_SIDE} a side)")
    gray_img = Image.fromarray(rgb_to_gray(img_rgb))
    gray_small = np.asarray(gray_img.resize((size, size), Image.Resampling.BICUBIC))
    return (None if full_res else img_rgb), gray_small


def write_photo(title, stem, img_rgb, chroma_samples, random_hues, output_dir):
    """Writes the samples, the gray and the original of one photo; returns its metrics row and
    hue counts (None for a grayscale photo) and its gallery entry."""
    gray = rgb_to_gray(img_rgb)
    samples_rgb = np.stack([merge_resized(gray, c) for c in chroma_samples])
    names = [sample_name(stem, s) for s in range(len(samples_rgb))]
    for name, sample_rgb in zip(names, samples_rgb):
        save_png(sample_rgb, output_dir / name)
    gray_name = f"{GALLERY_DIR}/{stem}_gray.png"
    save_png(gray, output_dir / gray_name)
    if is_grayscale(img_rgb):
        return None, (title, gray_name, names, None)
    original_name = f"{GALLERY_DIR}/{stem}_original.png"
    save_png(img_rgb, output_dir / original_name)
    row, counts = score_photo(samples_rgb, img_rgb, gray, random_hues, SCORE_MAX_SIDE)
    return ({"photo": title, **row}, counts), (title, gray_name, names, original_name)


def main():
    args = parse_args()
    input_path, output_dir = Path(args.input), Path(args.output)
    decoder_path = choose_decoder(args.models)
    if output_dir.exists() and not output_dir.is_dir():
        sys.exit(f"test.py: {output_dir} is a file, not a folder: choose another --output")
    # Outputs never land where the photos are: a photo.png would be overwritten by its colors.
    if input_path.is_file():
        folder = input_path.resolve().parent
        clash = folder in (output_dir.resolve(), (output_dir / GALLERY_DIR).resolve())
    else:
        folder, clash = input_path, folders_overlap(input_path, output_dir)
    if clash:
        sys.exit(f"test.py: --output {output_dir} and the photos' folder {folder} are the same or "
                 "inside one another: choose an output folder apart from the photos")
    candidates = input_photos(input_path)

    keras = import_keras()
    from colorizer.model import chroma_batches, prior_z

    try:
        decoder = keras.saving.load_model(decoder_path)  # safe mode stays on
    except Exception as err:  # a damaged file fails deep inside Keras in many ways
        sys.exit(f"test.py: {decoder_path} is not a loadable Keras model ({type(err).__name__}); "
                 "run train.py again")
    latent_dim, size = decoder.inputs[0].shape[-1], decoder.inputs[1].shape[1]

    # Pass 1: the model's input, small, read on both cores (Pillow decodes outside the GIL).
    with ThreadPoolExecutor(THREADS) as pool:
        loaded = list(pool.map(lambda path: load_small(path, size, args.full_res), candidates))
    paths, imgs_small, grays_small = [], [], []
    for path, result in zip(candidates, loaded):
        if isinstance(result, str):
            print(f"test.py: skipped {path}: {result}", file=sys.stderr)
            continue
        paths.append(path)
        imgs_small.append(result[0])
        grays_small.append(result[1])
    if not paths:
        sys.exit(f"test.py: no readable photos in {input_path}")

    z = prior_z(len(paths), args.samples, latent_dim, args.seed, args.temperature)

    # Pass 2: color laid onto each photo's own gray, at its own size; scores; the gallery.
    (output_dir / GALLERY_DIR).mkdir(parents=True, exist_ok=True)
    earlier = read_manifest(output_dir)
    for name in (METRICS_FILE, HUE_FILE, GALLERY_FILE):
        (output_dir / name).unlink(missing_ok=True)  # never leave the scores of an earlier run
    # The random-tint floor's hues: args.samples per photo, the same in every run.
    random_hues = np.random.default_rng(RANDOM_FLOOR_SEED).uniform(0, 360, (len(paths), args.samples))

    def finish(i, stem, chroma):
        img_rgb = imgs_small[i] if imgs_small[i] is not None else load_photo(paths[i], size, True)
        return write_photo(paths[i].name, stem, img_rgb, chroma, random_hues[i], output_dir)

    # Threads finish a batch's photos while the decoder colors the next: it leaves a fifth of
    # the cores idle. PNG encoding, resizing and most of numpy run outside the GIL.
    stems = output_stems(paths, args.samples)
    with ThreadPoolExecutor(THREADS) as pool:
        pending = []
        for first, chroma in chroma_batches(decoder, np.stack(grays_small), z):
            for i in range(first, first + len(chroma) // args.samples):
                at = (i - first) * args.samples
                pending.append(pool.submit(finish, i, stems[i], chroma[at:at + args.samples]))
        finished = [job.result() for job in pending]
    scored = [score for score, _ in finished if score is not None]
    rows, counts = [row for row, _ in scored], [c for _, c in scored]
    entries = [entry for _, entry in finished]

    if rows:
        save_text(csv_text(rows), output_dir / METRICS_FILE)
        save_text(hue_csv_text(hue_rates(counts)), output_dir / HUE_FILE)
        print(summary_table(rows, counts, args.samples))
    save_text(gallery_html(entries, {r["photo"]: r for r in rows}, args.samples),
              output_dir / GALLERY_FILE)
    manifest = [{"photo": title, "gray": gray, "samples": names, "original": original}
                for title, gray, names, original in entries]
    written = {name for entry in manifest for name in (entry["gray"], *entry["samples"],
                                                       entry["original"]) if name}
    for name in earlier - written:  # an earlier run's outputs that this run did not redo
        (output_dir / name).unlink(missing_ok=True)
    save_text(json.dumps(manifest, indent=1), output_dir / config.OUTPUTS_FILE)
    shape = "full size" if args.full_res else f"{size}x{size}"
    samples = f"{args.samples} sample" + ("s" if args.samples > 1 else "")
    print(f"test.py: colorized {len(paths)} photos x {samples} ({shape}) into "
          f"{output_dir}/, scored {len(rows)} in color; open {output_dir / GALLERY_FILE}")


def read_manifest(output_dir):
    """The files an earlier run of test.py wrote into output_dir, relative to it."""
    try:
        entries = json.loads((output_dir / config.OUTPUTS_FILE).read_text(encoding="utf-8"))
        names = {n for e in entries for n in (e["gray"], *e["samples"], e["original"]) if n}
    except (OSError, ValueError, TypeError, KeyError):  # none yet, or damaged: clear nothing
        return set()
    # Only plain names inside the folder: an edited list never reaches elsewhere.
    return {n for n in names if isinstance(n, str) and ".." not in Path(n).parts
            and not Path(n).is_absolute()}


if __name__ == "__main__":
    run(main, "test.py")
