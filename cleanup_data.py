"""Center-crop and resize every color photo of the archive to a small square, flat in images/.

    python cleanup_data.py                     # archive/ImageNet-Mini/images/<wnid>/* -> images/
    python cleanup_data.py --source samples    # the color photos bundled with the dependencies
    python cleanup_data.py --download          # fetch the Kaggle dataset into archive/ first

Grayscale photos are skipped (they teach nothing about color); files Pillow can't read are named
with the reason and skipped. The source is only read. Photos already in the output are not
redone unless --force; each output is written under a temporary name and renamed.
"""

import argparse
import os
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from colorizer import config
from colorizer.cli import (Interrupted, Interruption, ignore_interrupts, path_option, positive_int,
                           run, stall_watch, up_to)
from colorizer.color import is_grayscale
from colorizer.files import save_png
from colorizer.images import (UNREADABLE, folders_overlap, is_whole_png, open_rgb, photo_name,
                              sample_photo_paths, square, unreadable_reason, unusable_reason,
                              walk_files)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=config.ARCHIVE_DIR, type=path_option,
                   help=f"folder walked recursively, or '{config.SAMPLES_SOURCE}'")
    p.add_argument("--output", default=config.IMAGES_DIR, type=path_option,
                   help="folder the squares are written to")
    p.add_argument("--size", type=up_to(positive_int, 1024), default=config.IMAGE_SIZE,
                   help="side in pixels")
    p.add_argument("--force", action="store_true", help="redo photos already in the output")
    p.add_argument("--download", action="store_true",
                   help=f"first fetch Kaggle's {config.KAGGLE_DATASET} into archive/ (kagglehub)")
    return p


def download():
    """Fetches the dataset with kagglehub into archive/; one line and exit if that fails."""
    import kagglehub

    target = Path(config.ARCHIVE_DIR).parents[1]
    cache = Path(os.environ.get("KAGGLEHUB_CACHE", Path.home() / ".cache" / "kagglehub"))
    stall = float(os.environ.get(config.DOWNLOAD_STALL_VARIABLE, config.DOWNLOAD_STALL_S))
    try:
        with stall_watch([target, cache], stall):
            kagglehub.dataset_download(config.KAGGLE_DATASET, output_dir=str(target))
    except Exception as err:  # no network, no credentials, a moved dataset: all end here
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        sys.exit(f"cleanup_data.py: could not download {config.KAGGLE_DATASET} ({reason}); check "
                 "the network and Kaggle credentials (~/.kaggle/kaggle.json, or KAGGLE_USERNAME "
                 f"and KAGGLE_KEY), or download it by hand and {config.ARCHIVE_LAYOUT}")


def source_photos(source):
    """(path, name relative to the source) for every file to try."""
    if source == config.SAMPLES_SOURCE:
        return [(path, path.name) for path in sample_photo_paths()]
    root = Path(source)
    if not root.is_dir():
        sys.exit(f"cleanup_data.py: no photo folder at {root.resolve()}: {config.DATASET_HINT}")
    files = walk_files(root, on_loop=lambda link: print(
        f"cleanup_data.py: skipped {link}: a link to a folder already walked (a loop)",
        file=sys.stderr))
    if not files:
        sys.exit(f"cleanup_data.py: {root.resolve()} holds no files: {config.DATASET_HINT}")
    return [(path, path.relative_to(root)) for path in files]


def clean_one(job):
    """Square one photo into its target: ("written" | "grayscale" | "unreadable", reason)."""
    path, target, size = job
    if reason := unusable_reason(path):  # a broken link, a loop, a pipe: never opened
        return "unreadable", reason
    try:
        img_sq = square(open_rgb(path, size), size)
    except UNREADABLE as err:
        return "unreadable", unreadable_reason(path, err)
    if is_grayscale(np.asarray(img_sq)):
        return "grayscale", None
    save_png(img_sq, target)
    return "written", None


def clean(todo, counts):
    """Runs clean_one over todo on every core (decoding is the work), naming each file skipped;
    returns counts with each outcome added. Ctrl-C or SIGTERM stops within a moment, what is
    written whole."""
    pool = ProcessPoolExecutor(os.cpu_count(), initializer=ignore_interrupts)
    try:
        with Interruption() as interruption:
            outcomes = pool.map(clean_one, todo, chunksize=8)
            for (path, _, _), (outcome, reason) in zip(
                    todo, tqdm(outcomes, total=len(todo), desc="cleanup", unit="file",
                               disable=None)):
                interruption.raise_if_signalled()
                counts[outcome] += 1
                if reason:
                    print(f"cleanup_data.py: skipped {path}: {reason}", file=sys.stderr)
            interruption.raise_if_signalled()
    except Interrupted as err:
        pool.shutdown(wait=False, cancel_futures=True)
        raise Interrupted(err.name, f"{counts['written']} photos written this run; run it again "
                          "to go on") from None
    pool.shutdown()
    return counts


def main():
    args = build_parser().parse_args()
    if args.size < config.SIZE_MULTIPLE or args.size % config.SIZE_MULTIPLE:
        sys.exit(f"cleanup_data.py: --size {args.size} can't be trained on: use a multiple of "
                 f"{config.SIZE_MULTIPLE} (the original project used {config.IMAGE_SIZE})")
    if args.download:
        download()
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        sys.exit(f"cleanup_data.py: {output} is a file, not a folder: choose another --output")
    if args.source != config.SAMPLES_SOURCE and folders_overlap(args.source, output):
        sys.exit(f"cleanup_data.py: --output {output} and --source {args.source} are the same or "
                 "inside one another, so outputs would become sources: choose another --output")
    photos = source_photos(args.source)
    output.mkdir(parents=True, exist_ok=True)

    jobs = [(path, output / photo_name(relative), args.size) for path, relative in photos]
    # A file cut short (by a crash before writes were atomic, or a full disk) is redone.
    todo = [job for job in jobs if args.force or not is_whole_png(job[1])]
    counts = clean(todo, Counter(done=len(jobs) - len(todo)))
    print(f"cleanup_data.py: wrote {counts['written']} photos of {args.size}x{args.size} to "
          f"{output}/, {counts['done']} already done, skipped {counts['grayscale']} grayscale and "
          f"{counts['unreadable']} unreadable files")


if __name__ == "__main__":
    run(main, "cleanup_data.py")
