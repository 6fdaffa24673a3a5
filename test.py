"""Colorize every photo in test_images/ with the trained decoder, into test_output/.

    python test.py
    python test.py --samples 4 --seed 0    # four different colorizations of each, reproducible

Each photo is center-cropped and resized to the model's size (112×112), turned to gray, and
colored: test_output/<stem>.png from z = 0, the center of the prior (the model's most typical
colorization), then <stem>_2.png … <stem>_N.png from z drawn from N(0, τ² I), τ = --temperature.
With --full-res the whole photo is colored at its own size: the model sees it squeezed to
112×112, and the predicted color is resized and laid onto the full-resolution gray.
test_output/index.html shows every photo: gray input, samples, original, scores.
Photos in color are also scored against their cropped original, beside the gray baseline:
per-photo rows in test_output/metrics.csv and a table of means. Grayscale photos are only colored.
Needs only models/main_vae_decoder.keras.
"""

import argparse
import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from colorizer import config
from colorizer.cli import positive_float, positive_int
from colorizer.color import is_grayscale, merge_resized, rgb_to_gray
from colorizer.figures import gallery_html
from colorizer.images import UNREADABLE, open_rgb, save_png, square, unreadable_reason
from colorizer.metrics import score_photo, summary_table, write_csv

# -----------------------------------------------------------------------------
BATCH_SIZE = 256  # colorizations per decoder call
THREADS = min(4, os.cpu_count())  # photos finished at once; more cost memory with --full-res
METRICS_FILE = "metrics.csv"
GALLERY_FILE = "index.html"
GALLERY_DIR = "gallery"  # the gray inputs and originals the page shows beside the samples
SCORE_MAX_SIDE = 1024  # --full-res photos are scored at most this many pixels on the long side
# -----------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=config.TEST_IMAGES_DIR, help="folder of photos to colorize")
    p.add_argument("--output", default=config.TEST_OUTPUT_DIR, help="folder for the results")
    p.add_argument("--models", default=config.MODELS_DIR, help=f"folder with {config.DECODER_FILE}")
    p.add_argument("--samples", type=positive_int, default=1, help="colorizations per photo")
    p.add_argument("--seed", type=int, default=None, help="same seed, same pixels")
    p.add_argument("--temperature", type=positive_float, default=config.TEMPERATURE,
                   help="spread of the drawn samples' z: lower is safer, higher is bolder")
    p.add_argument("--full-res", action="store_true",
                   help="color the whole photo at its own size instead of a 112x112 crop")
    return p.parse_args()


def output_stems(paths):
    """Output stem per input; photos that share a stem keep their extension to stay apart."""
    counts = Counter(p.stem for p in paths)
    return [p.stem if counts[p.stem] == 1 else p.name.replace(".", "_") for p in paths]


def sample_name(stem, index):
    return f"{stem}.png" if index == 0 else f"{stem}_{index + 1}.png"


def load_photo(path, size, full_res):
    """The photo as test.py colors it: whole, or center-cropped and resized to size×size."""
    return np.asarray(open_rgb(path) if full_res else square(open_rgb(path, size), size))


def write_photo(title, stem, img_rgb, chroma_samples, output_dir):
    """Writes the samples, the gray and the original of one photo; returns its metrics row
    (None for a grayscale photo) and its gallery entry."""
    gray = rgb_to_gray(img_rgb)
    samples_rgb = np.stack([merge_resized(gray, c) for c in chroma_samples])
    names = [sample_name(stem, s) for s in range(len(samples_rgb))]
    for name, sample_rgb in zip(names, samples_rgb):
        save_png(Image.fromarray(sample_rgb), output_dir / name)
    gray_name = f"{GALLERY_DIR}/{stem}_gray.png"
    save_png(Image.fromarray(gray), output_dir / gray_name)
    if is_grayscale(img_rgb):
        return None, (title, gray_name, names, None)
    original_name = f"{GALLERY_DIR}/{stem}_original.png"
    save_png(Image.fromarray(img_rgb), output_dir / original_name)
    row = {"photo": title, **score_photo(samples_rgb, img_rgb, gray, SCORE_MAX_SIDE)}
    return row, (title, gray_name, names, original_name)


def main():
    args = parse_args()
    input_dir, output_dir = Path(args.input), Path(args.output)
    decoder_path = Path(args.models) / config.DECODER_FILE
    if not decoder_path.is_file():
        sys.exit(f"test.py: no model at {decoder_path}: run train.py first")
    if not input_dir.is_dir():
        sys.exit(f"test.py: no folder {input_dir}/: put the photos to colorize there")
    candidates = sorted(p for p in input_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if output_dir.exists() and not output_dir.is_dir():
        sys.exit(f"test.py: {output_dir} is a file, not a folder: choose another --output")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from colorizer.model import prior_z

    try:
        decoder = keras.saving.load_model(decoder_path)  # safe mode stays on
    except Exception as err:  # a damaged file fails deep inside Keras in many ways
        sys.exit(f"test.py: {decoder_path} is not a loadable Keras model ({type(err).__name__}); "
                 "run train.py again")
    latent_dim, size = decoder.inputs[0].shape[-1], decoder.inputs[1].shape[1]

    # Pass 1: the model's input, small. Full-size photos are not kept: pass 2 reloads each one.
    paths, imgs_small, grays_small = [], [], []
    for path in candidates:
        try:
            img_rgb = load_photo(path, size, args.full_res)
        except UNREADABLE as err:
            print(f"test.py: skipped {path}: {unreadable_reason(path, err)}", file=sys.stderr)
            continue
        gray_img = Image.fromarray(rgb_to_gray(img_rgb))
        grays_small.append(np.asarray(gray_img.resize((size, size), Image.Resampling.BICUBIC)))
        imgs_small.append(None if args.full_res else img_rgb)
        paths.append(path)
    if not paths:
        sys.exit(f"test.py: no readable photos in {input_dir}/")

    z = prior_z(len(paths), args.samples, latent_dim, args.seed, args.temperature)
    gray_rep = np.repeat(np.stack(grays_small), args.samples, axis=0)
    chroma_small = decoder.predict([z, gray_rep[..., None].astype(np.float32)],
                                   batch_size=BATCH_SIZE, verbose=0)

    # Pass 2: color laid onto each photo's own gray, at its own size; scores; the gallery.
    # Threads share the cores: PNG encoding, resizing and most of numpy run outside the GIL.
    (output_dir / GALLERY_DIR).mkdir(parents=True, exist_ok=True)

    def finish(i, stem):
        img_rgb = imgs_small[i] if imgs_small[i] is not None else load_photo(paths[i], size, True)
        chroma = chroma_small[i * args.samples:(i + 1) * args.samples]
        return write_photo(paths[i].name, stem, img_rgb, chroma, output_dir)

    with ThreadPoolExecutor(THREADS) as pool:
        finished = list(pool.map(finish, range(len(paths)), output_stems(paths)))
    rows = [row for row, _ in finished if row is not None]
    entries = [entry for _, entry in finished]

    metrics_path = output_dir / METRICS_FILE
    metrics_path.unlink(missing_ok=True)  # never leave the scores of an earlier run
    if rows:
        write_csv(rows, metrics_path)
        print(summary_table(rows, args.samples))
    page = gallery_html(entries, {r["photo"]: r for r in rows}, args.samples)
    (output_dir / GALLERY_FILE).write_text(page, encoding="utf-8")
    shape = "full size" if args.full_res else f"{size}x{size}"
    print(f"test.py: colorized {len(paths)} photos x {args.samples} samples ({shape}) into "
          f"{output_dir}/, scored {len(rows)} in color; open {output_dir / GALLERY_FILE}")


if __name__ == "__main__":
    main()
