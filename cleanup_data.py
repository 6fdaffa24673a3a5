"""Center-crop and resize every color photo of the archive to a small square, flat in images/.

    python cleanup_data.py                     # archive/ImageNet-Mini/images/<wnid>/* -> images/
    python cleanup_data.py --source samples    # the color photos bundled with the dependencies

Grayscale photos are skipped (they teach nothing about color); so are files Pillow can't read.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from colorizer import config
from colorizer.color import is_grayscale
from colorizer.images import open_rgb, photo_name, sample_photo_paths, save_png, square, walk_files

# Everything Pillow raises for a file it cannot decode, including its decompression-bomb guard.
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=config.ARCHIVE_DIR,
                   help=f"folder walked recursively, or '{config.SAMPLES_SOURCE}'")
    p.add_argument("--output", default=config.IMAGES_DIR, help="folder the squares are written to")
    p.add_argument("--size", type=int, default=config.IMAGE_SIZE, help="side in pixels")
    return p.parse_args()


def source_photos(source):
    """(path, name relative to the source) for every file to try."""
    if source == config.SAMPLES_SOURCE:
        return [(path, path.name) for path in sample_photo_paths()]
    root = Path(source)
    if not root.is_dir():
        sys.exit(f"cleanup_data.py: no photo folder at {root.resolve()}: {config.DATASET_HINT}")
    return [(path, path.relative_to(root)) for path in walk_files(root)]


def main():
    args = parse_args()
    if args.size < config.SIZE_MULTIPLE or args.size % config.SIZE_MULTIPLE:
        sys.exit(f"cleanup_data.py: --size {args.size} can't be trained on: use a multiple of "
                 f"{config.SIZE_MULTIPLE} (the original project used {config.IMAGE_SIZE})")
    photos = source_photos(args.source)
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        sys.exit(f"cleanup_data.py: {output} is a file, not a folder: choose another --output")
    output.mkdir(parents=True, exist_ok=True)

    written = grayscale = unreadable = 0
    for path, relative in photos:
        try:
            img_sq = square(open_rgb(path, args.size), args.size)
        except UNREADABLE:
            unreadable += 1
            continue
        if is_grayscale(np.asarray(img_sq)):
            grayscale += 1
            continue
        save_png(img_sq, output / photo_name(relative))
        written += 1
    print(f"cleanup_data.py: wrote {written} photos of {args.size}x{args.size} to {output}/, "
          f"skipped {grayscale} grayscale and {unreadable} unreadable files")


if __name__ == "__main__":
    main()
