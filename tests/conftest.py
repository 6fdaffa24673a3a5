"""Real photos for the tests: the shared Mini-ImageNet sample, or else the bundled sample photos."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorizer.images import sample_photo_paths

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "mini-imagenet-sample" / "ImageNet-Mini" / "images"
ARCHIVE_COLOR_PHOTOS = 24  # color photos in the small test archive, at most


def real_photo_paths():
    """Paths of real photos, color and gray, each opening with Pillow."""
    if SHARED.is_dir():
        return sorted(SHARED.glob("*/*"))
    return sample_photo_paths()


@pytest.fixture(scope="session")
def color_photos():
    """A few dozen real color photos as uint8 RGB arrays of their own size."""
    photos = []
    for path in real_photo_paths():
        with Image.open(path) as img:
            if img.mode == "RGB":
                photos.append(np.asarray(img))
        if len(photos) == 40:
            break
    return photos


def run_script(script, *args, cwd, check=True):
    """Run one of the four scripts as a user would, in a fresh process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, env=env, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{script} {args} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    """A small archive in the Kaggle layout: color photos in <wnid>/ folders, two grayscale
    photos, and one file name used in two different folders.

    Returns (archive folder, number of color photos, number of grayscale photos).
    """
    root = tmp_path_factory.mktemp("archive") / "ImageNet-Mini" / "images"
    color, gray = [], []
    for path in real_photo_paths():
        with Image.open(path) as img:
            (gray if img.mode == "L" else color).append(path)
    n_color = min(ARCHIVE_COLOR_PHOTOS, len(color) - 1)  # the bundled fallback has 11
    for i, path in enumerate(color[:n_color]):
        folder = root / (path.parent.name if SHARED.is_dir() else f"n{i:08d}")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.name)
    twin = root / "n99999999"
    twin.mkdir()
    shutil.copy(color[n_color], twin / color[0].name)  # same name, other photo
    for i, path in enumerate(gray[:2] or color[-2:]):
        with Image.open(path) as img:
            img.convert("L").save(twin / f"gray{i}.jpg")
    return root, n_color + 1, 2
