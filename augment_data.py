"""Add four corner crops of every original photo in images/, resized back to its size.

    python augment_data.py

Crop names derive from the original's (<name>_crop1.png … _crop4.png), so a second run adds
nothing and training keeps all crops of one photo on the same side of its validation split.
"""

import argparse
import os
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from colorizer import config
from colorizer.cli import path_option, run
from colorizer.files import save_png
from colorizer.images import (CROPS_PER_PHOTO, UNREADABLE, corner_crops, crop_name, is_crop,
                              is_whole_png, list_images, unreadable_reason)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=config.IMAGES_DIR, type=path_option,
                   help="folder of original PNGs")
    return p


def main():
    args = build_parser().parse_args()
    images = Path(args.images)
    originals = [p for p in list_images(images) if not is_crop(p)] if images.is_dir() else []
    for path in [p for p in originals if not is_whole_png(p)]:
        print(f"augment_data.py: skipped {path}: empty or cut short; re-run cleanup_data.py",
              file=sys.stderr)
    originals = [p for p in originals if is_whole_png(p)]
    if not originals:
        sys.exit(f"augment_data.py: no photos in {images}/: run cleanup_data.py first")

    written = present = 0
    name_max = os.pathconf(images, "PC_NAME_MAX")
    for path in tqdm(originals, desc="augment", unit="photo", disable=None):
        targets = [images / crop_name(path, i + 1) for i in range(CROPS_PER_PHOTO)]
        if len(os.fsencode(targets[0].name)) > name_max:
            print(f"augment_data.py: skipped {path}: its crops' names would be longer than the "
                  f"{name_max} bytes the file system allows; rename it shorter", file=sys.stderr)
            continue
        if all(is_whole_png(t) for t in targets):
            present += len(targets)
            continue
        try:
            with Image.open(path, formats=["PNG"]) as img:
                crops = corner_crops(img.convert("RGB"))
        except UNREADABLE as err:
            print(f"augment_data.py: skipped {path}: {unreadable_reason(path, err)}", file=sys.stderr)
            continue
        for target, crop in zip(targets, crops):
            if is_whole_png(target):
                present += 1
            else:
                save_png(crop, target)
                written += 1
    print(f"augment_data.py: {len(originals)} originals; wrote {written} crops, {present} were "
          f"already there; {len(originals) + written + present} images in {images}/")


if __name__ == "__main__":
    run(main, "augment_data.py")
