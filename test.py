"""Colorize every photo in test_images/ (or one photo) with the trained decoder, into test_output/.

    python test.py
    python test.py --samples 4 --seed 0    # four different colorizations of each, reproducible
    python test.py --input photo.jpg       # one photo
    python test.py --square                # 112x112 center crops, as the original project

Each photo is turned to gray and colored at its own size, its proportions kept: the model sees
it through squares of its short side resized to 112×112 (colorizer.tiling), and their color,
blended, is resized and laid onto the full-size gray. test_output/<stem>.png is colored from
z = 0, the center of the prior (the model's most typical colorization), then <stem>_2.png …
<stem>_N.png from z drawn around it where N(0, τ² I) has its mass (τ = --temperature), in
directions that point apart (colorizer.inference.prior_z).
test_output/index.html shows every photo: gray input, samples, original, scores.
Photos in color are also scored against their cropped original, beside the gray baseline:
per-photo rows in test_output/metrics.csv, hue hits per hue sector in test_output/hue.csv (with
two floors: one hue for every photo, and the best of N random hues), and a table of means.
Grayscale photos are only colored. test_output/outputs.json lists each photo's files; the next
run into the same folder removes those it (the photos' files, the page and the tables) does not
write again, and nothing else. The output folder is never the photos' own.
Needs only models/main_vae_decoder.keras (and, for a decoder that reads a backbone, the installed
package holding the backbone's weights, colorizer.backbone); without one (and without --models)
it colors with the released model in pretrained/, and says so. Prints a line per photo skipped,
the table of scores where photos were in color, and a summary line.
"""

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from colorizer import config
from colorizer.cli import (Interruption, path_option, positive_float, positive_int, run,
                           seed_value, up_to)
from colorizer.color import is_grayscale, merge_resized, rgb_to_gray
from colorizer.figures import gallery_html
from colorizer.files import printable
from colorizer.images import open_rgb, read_photos, unusable_reason
from colorizer.inference import Colorizer
from colorizer.metrics import (RANDOM_FLOOR_SEED, PhotoScorer, csv_text, hue_csv_text, hue_rates,
                               summary_table)
from colorizer.outputs import OutputFolder, photo_files


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=config.TEST_IMAGES_DIR, type=path_option,
                   help="folder of photos to colorize, or one photo")
    p.add_argument("--output", default=config.TEST_OUTPUT_DIR, type=path_option,
                   help="folder for the results")
    p.add_argument("--models", default=None, type=path_option,
                   help=f"folder with {config.DECODER_FILE}; default {config.MODELS_DIR}/, or "
                        "the released model where that holds none")
    p.add_argument("--samples", type=up_to(positive_int, config.MAX_SAMPLES),
                   default=config.SAMPLES, help="colorizations per photo")
    p.add_argument("--seed", type=seed_value, default=None, help="same seed, same pixels")
    p.add_argument("--temperature", type=up_to(positive_float, 10), default=config.TEMPERATURE,
                   help="spread of the drawn samples' z: lower is safer, higher is bolder")
    p.add_argument("--square", action="store_true",
                   help="color each photo's center square at 112x112, as the original project "
                        "did, instead of the whole photo at its own size")
    return p


def main():
    args = build_parser().parse_args()
    input_path = Path(args.input)
    decoder_path = choose_decoder(args.models)
    folder = OutputFolder(args.output, input_path)
    candidates = input_photos(input_path, folder)
    colorizer = Colorizer.load(decoder_path)
    with folder.lock(), Interruption() as interruption:
        paths, imgs_rgb, grays, tilings = read_photos(candidates, colorizer.size, args.square,
                                                      on_skip=skipped)
        if not paths:
            sys.exit(f"test.py: no readable photos in {input_path}")
        z = colorizer.prior_z(len(paths), args.samples, args.seed, args.temperature)
        stems = folder.claim(paths, args.samples)
        interruption.writing = True
        written = colorize_and_write(colorizer, paths, imgs_rgb, grays, tilings, z, stems,
                                     folder, interruption)
        scored = write_reports(written, args.samples, folder)
    interruption.raise_if_signalled(f"{len(written)} of {len(paths)} photos written into "
                                    f"{folder.path}/, which {config.GALLERY_FILE} and "
                                    f"{config.OUTPUTS_FILE} list")
    shape = f"{colorizer.size}x{colorizer.size}" if args.square else "at their own size"
    samples = f"{args.samples} sample" + ("s" if args.samples > 1 else "")
    print(f"test.py: colorized {len(paths)} photos x {samples} ({shape}) into "
          f"{folder.path}/, scored {scored} in color; open {folder.path / config.GALLERY_FILE}")


def skipped(path, reason):
    print(f"test.py: skipped {path}: {reason}", file=sys.stderr)


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
    relative = Path(os.path.relpath(released)) if released.is_relative_to(Path.cwd()) else released
    print(f"test.py: no model of your own in {config.MODELS_DIR}/: coloring with the released "
          f"model {relative} (see {relative.parent / config.MODEL_CARD}); train.py trains yours "
          f"into {config.MODELS_DIR}/")
    return released


def input_photos(input_path, folder):
    """The files to try: the one photo given, or the folder's entries; what can't be a photo
    (folders, broken links, pipes and the like), and a link to a file in the output folder (its
    colors would replace it), is named with the reason and left out."""
    if not input_path.exists():
        sys.exit(f"test.py: no photo or folder at {input_path}: put the photos to colorize in "
                 f"{config.TEST_IMAGES_DIR}/ or name them with --input")
    listed = ([input_path] if not input_path.is_dir() else
              sorted(p for p in input_path.iterdir() if not p.name.startswith(".")))
    photos = []
    for path in listed:
        if reason := unusable_reason(path):
            skipped(path, reason)
        elif folder.holds(path):
            skipped(path, f"it is {path.resolve()}, inside the output folder {folder.path}, "
                          "where its colors would be written")
        else:
            photos.append(path)
    if input_path.is_file() and not photos:
        sys.exit(f"test.py: nothing to color in {input_path}")
    return photos


def colorize_and_write(colorizer, paths, imgs_rgb, grays, tilings, z, stems, folder,
                       interruption):
    """Each photo's samples, gray and original written, its color laid onto its own gray at
    its own size; returns per photo written (its scores or None, its gallery entry). After a
    signal, the photos under way are finished and no others begun."""
    samples = len(z) // len(paths)
    # The random-tint floor's hues: `samples` per photo, the same in every run.
    random_hues = np.random.default_rng(RANDOM_FLOOR_SEED).uniform(0, 360, (len(paths), samples))

    def write(i, chroma_samples):
        img_rgb, gray = imgs_rgb[i], grays[i]
        if img_rgb is None:  # at its own size, read again here: one photo held per thread
            img_rgb = np.asarray(open_rgb(paths[i]))
            gray = rgb_to_gray(img_rgb)
        return write_photo(folder, printable(paths[i].name), stems[i], img_rgb, gray,
                           chroma_samples, random_hues[i])

    # Threads finish a batch's photos while the decoder colors the next: it leaves a fifth of
    # the cores idle. PNG encoding, resizing and most of numpy run outside the GIL.
    with ThreadPoolExecutor(config.PHOTO_THREADS) as pool:
        pending = []
        for i, chroma in colorizer.photo_chromas(tilings, z):
            if interruption.signal:
                break
            pending.append(pool.submit(write, i, chroma))
        written = []
        for job in pending:
            if interruption.signal:
                job.cancel()  # unless begun
            if not job.cancelled():
                written.append(job.result())
        return written


def write_photo(folder, title, stem, img_rgb, gray, chroma_samples, random_hues):
    """Writes the samples, the gray and the original of one photo, each sample as it is made
    (at full size only one is held at a time), and scores them where the photo is in color;
    returns its metrics row and hue counts (None for a grayscale photo) and its gallery entry."""
    in_color = not is_grayscale(img_rgb)
    names = photo_files(stem, len(chroma_samples), in_color)
    scorer = PhotoScorer(img_rgb, gray, len(chroma_samples), random_hues) if in_color else None
    for name, chroma in zip(names, chroma_samples):
        sample_rgb = merge_resized(gray, chroma)
        folder.save_png(name, sample_rgb)
        if scorer:
            scorer.add(sample_rgb)
    gray_name, *original_name = names[len(chroma_samples):]
    folder.save_png(gray_name, gray)
    entry = (title, gray_name, names[:len(chroma_samples)], original_name[0] if in_color else None)
    if not in_color:
        return None, entry
    folder.save_png(original_name[0], img_rgb)
    row, counts = scorer.scores()
    return ({"photo": title, **row}, counts), entry


def write_reports(written, samples, folder):
    """The scores (metrics.csv, hue.csv and a printed table, where photos were in color), the
    gallery page and the manifest. Returns how many photos were scored."""
    scored = [score for score, _ in written if score is not None]
    rows, counts = [row for row, _ in scored], [c for _, c in scored]
    entries = [entry for _, entry in written]
    reports = {config.GALLERY_FILE: gallery_html(entries, {r["photo"]: r for r in rows}, samples)}
    if rows:
        reports[config.METRICS_FILE] = csv_text(rows)
        reports[config.HUE_FILE] = hue_csv_text(hue_rates(counts))
        print(summary_table(rows, counts, samples))
    folder.write_reports(entries, reports)
    return len(rows)


if __name__ == "__main__":
    run(main, "test.py")
