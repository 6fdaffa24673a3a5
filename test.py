"""Colorize every photo in test_images/ with the trained decoder, into test_output/.

    python test.py
    python test.py --samples 4 --seed 0    # four different colorizations of each, reproducible

Each photo is center-cropped and resized to the model's size (112×112), turned to gray, and
colored from z drawn from N(0, I): test_output/<stem>.png, then <stem>_2.png … <stem>_N.png.
Photos in color are also scored against their cropped original, beside the gray baseline:
per-photo rows in test_output/metrics.csv and a table of means. Grayscale photos are only colored.
Needs only models/main_vae_decoder.keras.
"""

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from colorizer import config
from colorizer.color import is_grayscale, merge, rgb_to_gray
from colorizer.images import open_rgb, save_png, square
from colorizer.metrics import score_photo, summary_table, write_csv

# -----------------------------------------------------------------------------
BATCH_SIZE = 256  # colorizations per decoder call
METRICS_FILE = "metrics.csv"
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError)
# -----------------------------------------------------------------------------


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=config.TEST_IMAGES_DIR, help="folder of photos to colorize")
    p.add_argument("--output", default=config.TEST_OUTPUT_DIR, help="folder for the results")
    p.add_argument("--models", default=config.MODELS_DIR, help=f"folder with {config.DECODER_FILE}")
    p.add_argument("--samples", type=positive_int, default=1, help="colorizations per photo")
    p.add_argument("--seed", type=int, default=None, help="same seed, same pixels")
    return p.parse_args()


def output_stems(paths):
    """Output stem per input; photos that share a stem keep their extension to stay apart."""
    counts = Counter(p.stem for p in paths)
    return [p.stem if counts[p.stem] == 1 else p.name.replace(".", "_") for p in paths]


def sample_name(stem, index):
    return f"{stem}.png" if index == 0 else f"{stem}_{index + 1}.png"


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

    decoder = keras.saving.load_model(decoder_path)
    latent_dim, size = decoder.inputs[0].shape[-1], decoder.inputs[1].shape[1]

    paths, imgs_orig = [], []
    for path in candidates:
        try:
            imgs_orig.append(np.asarray(square(open_rgb(path, size), size)))
            paths.append(path)
        except UNREADABLE as err:
            print(f"test.py: skipped {path}: not a readable image ({err})", file=sys.stderr)
    if not paths:
        sys.exit(f"test.py: no readable photos in {input_dir}/")

    grays = rgb_to_gray(np.stack(imgs_orig))
    rng = np.random.default_rng(args.seed)
    z = rng.standard_normal((len(paths) * args.samples, latent_dim)).astype(np.float32)
    gray_rep = np.repeat(grays, args.samples, axis=0)
    chroma = decoder.predict([z, gray_rep[..., None].astype(np.float32)],
                             batch_size=BATCH_SIZE, verbose=0)
    rgb = merge(gray_rep, chroma)

    output_dir.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    rows = []
    for i, stem in enumerate(output_stems(paths)):
        samples_rgb = rgb[i * args.samples:(i + 1) * args.samples]
        for s, img_rgb in enumerate(samples_rgb):
            save_png(Image.fromarray(img_rgb), output_dir / sample_name(stem, s))
        if not is_grayscale(imgs_orig[i]):
            rows.append({"photo": paths[i].name,
                         **score_photo(samples_rgb, imgs_orig[i], grays[i])})

    metrics_path = output_dir / METRICS_FILE
    metrics_path.unlink(missing_ok=True)  # never leave the scores of an earlier run
    if rows:
        write_csv(rows, metrics_path)
        print(summary_table(rows, args.samples))
    print(f"test.py: colorized {len(paths)} photos x {args.samples} samples "
          f"({size}x{size}) into {output_dir}/, scored {len(rows)} in color")


if __name__ == "__main__":
    main()
