"""Which photos the benchmarks hold out: a fixed rule on each photo's path inside its set, so that
every benchmark, and every run of one, scores the same photos and trains on none of them."""

import zlib

from colorizer.config import SHARED_CALTECH_DIR, SHARED_SAMPLE_DIR

# Each set's root and its folds: crc32 of the path modulo this, 0 held out.
SETS = {"Mini-ImageNet": (SHARED_SAMPLE_DIR, 5), "Caltech-101": (SHARED_CALTECH_DIR, 20)}


def fold(path, root, every):
    """The photo's fold: 0 is held out, 1 the training photos that bench/quality.py --seen
    scores."""
    return zlib.crc32(path.relative_to(root).as_posix().encode()) % every


def held_out(root, every):
    """The held-out photos of the set at root, sorted."""
    return [p for p in sorted(root.glob("*/*")) if fold(p, root, every) == 0]
