"""Which photos the benchmarks hold out: a fixed rule on each photo's path inside its set, so that
every benchmark, and every run of one, scores the same photos and trains on none of them."""

import zlib

from colorizer.config import SHARED_CALTECH_DIR, SHARED_MORE_DIR, SHARED_SAMPLE_DIR

# Each set's root and its folds: crc32 of the path modulo this, 0 held out. The scenes and
# flowers are in <source>/<category>/ folders, the others in <category>/ folders.
SETS = {"Mini-ImageNet": (SHARED_SAMPLE_DIR, 5), "Caltech-101": (SHARED_CALTECH_DIR, 20),
        "Scenes-flowers": (SHARED_MORE_DIR, 20)}
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def photos(root):
    """The photos in the folders under root, at any depth, sorted."""
    return sorted(p for p in root.glob("*/**/*")
                  if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())


def fold(path, root, every):
    """The photo's fold: 0 is held out, 1 the training photos that bench/quality.py --seen
    scores."""
    return zlib.crc32(path.relative_to(root).as_posix().encode()) % every


def held_out(root, every):
    """The held-out photos of the set at root, sorted."""
    return [p for p in photos(root) if fold(p, root, every) == 0]
