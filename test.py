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
run into the same folder removes those it (the photos' files, the page and the tables) does not
write again, and nothing else. The output folder is never the photos' own.
Needs only models/main_vae_decoder.keras; without one (and without --models) it colors with the
released model in pretrained/, and says so.
"""

import argparse
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
from colorizer.files import save_png, save_text
from colorizer.inference import chroma_batches, prior_z
from colorizer.images import (UNREADABLE, folders_overlap, open_rgb, square, unreadable_reason,
                              unusable_reason)
from colorizer.metrics import (RANDOM_FLOOR_SEED, csv_text, hue_csv_text, hue_rates, score_photo,
                               summary_table)
from colorizer.outputs import output_stems, read_manifest, sample_name, write_manifest

THREADS = min(4, os.cpu_count())  # photos read or finished at once; more cost memory with --full-res


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=config.TEST_IMAGES_DIR,
                   help="folder of photos to colorize, or one photo")
    p.add_argument("--output", default=config.TEST_OUTPUT_DIR, help="folder for the results")
    p.add_argument("--models", default=None,
                   help=f"folder with {config.DECODER_FILE}; default {config.MODELS_DIR}/, or "
                        "the released model where that holds none")
    p.add_argument("--samples", type=up_to(positive_int, config.MAX_SAMPLES),
                   default=config.SAMPLES, help="colorizations per photo")
    p.add_argument("--seed", type=seed, default=None, help="same seed, same pixels")
    p.add_argument("--temperature", type=up_to(positive_float, 10), default=config.TEMPERATURE,
                   help="spread of the drawn samples' z: lower is safer, higher is bolder")
    p.add_argument("--full-res", action="store_true",
                   help="color the whole photo at its own size instead of a 112x112 crop")
    return p


def main():
    args = build_parser().parse_args()
    input_path, output_dir = Path(args.input), Path(args.output)
    decoder_path = choose_decoder(args.models)
    check_output_folder(input_path, output_dir)
    candidates = input_photos(input_path)
    decoder = load_decoder(decoder_path)
    latent_dim, size = decoder.inputs[0].shape[-1], decoder.inputs[1].shape[1]
    paths, imgs_small, grays_small = load_inputs(candidates, size, args.full_res)
    if not paths:
        sys.exit(f"test.py: no readable photos in {input_path}")
    z = prior_z(len(paths), args.samples, latent_dim, args.seed, args.temperature)
    finished = colorize_and_write(decoder, paths, imgs_small, grays_small, z, output_dir)
    scored = write_reports(finished, args.samples, output_dir)
    shape = "full size" if args.full_res else f"{size}x{size}"
    samples = f"{args.samples} sample" + ("s" if args.samples > 1 else "")
    print(f"test.py: colorized {len(paths)} photos x {samples} ({shape}) into "
          f"{output_dir}/, scored {scored} in color; open {output_dir / config.GALLERY_FILE}")


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


def check_output_folder(input_path, output_dir):
    """Outputs never land where the photos are: a photo.png would be overwritten by its colors."""
    if output_dir.exists() and not output_dir.is_dir():
        sys.exit(f"test.py: {output_dir} is a file, not a folder: choose another --output")
    if input_path.is_file():
        folder = input_path.resolve().parent
        clash = folder in (output_dir.resolve(), (output_dir / config.GALLERY_DIR).resolve())
    else:
        folder, clash = input_path, folders_overlap(input_path, output_dir)
    if clash:
        sys.exit(f"test.py: --output {output_dir} and the photos' folder {folder} are the same or "
                 "inside one another: choose an output folder apart from the photos")


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


def load_decoder(path):
    keras = import_keras()
    try:
        return keras.saving.load_model(path)  # safe mode stays on
    except Exception as err:  # a damaged file fails deep inside Keras in many ways
        sys.exit(f"test.py: {path} is not a loadable Keras model ({type(err).__name__}); "
                 "run train.py again")


def load_photo(path, size, full_res):
    """The photo as test.py colors it: whole, or center-cropped and resized to size×size."""
    return np.asarray(open_rgb(path) if full_res else square(open_rgb(path, size), size))


def load_small(path, size, full_res):
    """(the photo as test.py colors it, None with --full-res: it is reloaded when written; its
    gray at the model's size), or the reason path is skipped."""
    try:
        img_rgb = load_photo(path, size, full_res)
    except UNREADABLE as err:
        return unreadable_reason(path, err)
    if min(img_rgb.shape[:2]) < config.MIN_SIDE:
        return (f"{img_rgb.shape[1]}x{img_rgb.shape[0]} pixels, too small to color (at least "
                f"{config.MIN_SIDE} a side)")
    gray_img = Image.fromarray(rgb_to_gray(img_rgb))
    gray_small = np.asarray(gray_img.resize((size, size), Image.Resampling.BICUBIC))
    return (None if full_res else img_rgb), gray_small


def load_inputs(candidates, size, full_res):
    """(paths, photos or None, grays at the model's size) of the readable candidates, read on
    every core (Pillow decodes outside the GIL); the others named with the reason."""
    with ThreadPoolExecutor(THREADS) as pool:
        loaded = list(pool.map(lambda path: load_small(path, size, full_res), candidates))
    for path, result in zip(candidates, loaded):
        if isinstance(result, str):
            print(f"test.py: skipped {path}: {result}", file=sys.stderr)
    kept = [(path, *result) for path, result in zip(candidates, loaded)
            if not isinstance(result, str)]
    if not kept:
        return [], [], []
    paths, imgs_small, grays_small = zip(*kept)
    return list(paths), list(imgs_small), np.stack(grays_small)


def colorize_and_write(decoder, paths, imgs_small, grays_small, z, output_dir):
    """Each photo's samples, gray and original written, its color laid onto its own gray at
    its own size; returns per photo (its scores or None, its gallery entry)."""
    samples = len(z) // len(paths)
    (output_dir / config.GALLERY_DIR).mkdir(parents=True, exist_ok=True)
    # The random-tint floor's hues: `samples` per photo, the same in every run.
    random_hues = np.random.default_rng(RANDOM_FLOOR_SEED).uniform(0, 360, (len(paths), samples))
    stems = output_stems(paths, samples)

    def finish(i, chroma):
        img_rgb = imgs_small[i] if imgs_small[i] is not None else np.asarray(open_rgb(paths[i]))
        return write_photo(paths[i].name, stems[i], img_rgb, chroma, random_hues[i], output_dir)

    # Threads finish a batch's photos while the decoder colors the next: it leaves a fifth of
    # the cores idle. PNG encoding, resizing and most of numpy run outside the GIL.
    with ThreadPoolExecutor(THREADS) as pool:
        pending = []
        for first, chroma in chroma_batches(decoder, grays_small, z):
            for i in range(first, first + len(chroma) // samples):
                at = (i - first) * samples
                pending.append(pool.submit(finish, i, chroma[at:at + samples]))
        return [job.result() for job in pending]


def write_photo(title, stem, img_rgb, chroma_samples, random_hues, output_dir):
    """Writes the samples, the gray and the original of one photo; returns its metrics row and
    hue counts (None for a grayscale photo) and its gallery entry."""
    gray = rgb_to_gray(img_rgb)
    samples_rgb = np.stack([merge_resized(gray, c) for c in chroma_samples])
    names = [sample_name(stem, s) for s in range(len(samples_rgb))]
    for name, sample_rgb in zip(names, samples_rgb):
        save_png(sample_rgb, output_dir / name)
    gray_name = f"{config.GALLERY_DIR}/{stem}_gray.png"
    save_png(gray, output_dir / gray_name)
    if is_grayscale(img_rgb):
        return None, (title, gray_name, names, None)
    original_name = f"{config.GALLERY_DIR}/{stem}_original.png"
    save_png(img_rgb, output_dir / original_name)
    row, counts = score_photo(samples_rgb, img_rgb, gray, random_hues, config.SCORE_MAX_SIDE)
    return ({"photo": title, **row}, counts), (title, gray_name, names, original_name)


def write_reports(finished, samples, output_dir):
    """The scores (metrics.csv, hue.csv and a printed table, where photos were in color), the
    gallery page and the manifest; an earlier run's files not written again are removed.
    Returns how many photos were scored."""
    earlier = read_manifest(output_dir)
    scored = [score for score, _ in finished if score is not None]
    rows, counts = [row for row, _ in scored], [c for _, c in scored]
    entries = [entry for _, entry in finished]
    reports = [config.GALLERY_FILE]
    if rows:
        save_text(csv_text(rows), output_dir / config.METRICS_FILE)
        save_text(hue_csv_text(hue_rates(counts)), output_dir / config.HUE_FILE)
        reports += [config.METRICS_FILE, config.HUE_FILE]
        print(summary_table(rows, counts, samples))
    save_text(gallery_html(entries, {r["photo"]: r for r in rows}, samples),
              output_dir / config.GALLERY_FILE)
    write_manifest(output_dir, entries, reports, earlier)
    return len(rows)


if __name__ == "__main__":
    run(main, "test.py")
