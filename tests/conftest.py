"""Real photos for the tests: the shared Mini-ImageNet sample, or else the bundled sample photos."""

import shutil

import numpy as np
import pytest
from PIL import Image

from colorizer import config, scripts
from colorizer.config import SHARED_SAMPLE_DIR as SHARED
from colorizer.images import sample_photo_paths

REPO = scripts.REPO
ARCHIVE_COLOR_PHOTOS = 24  # color photos in the small test archive, at most


def every_rgb_color():
    """uint8 (4096, 4096, 3): each of the 2²⁴ colors once."""
    rgb = np.arange(2**24, dtype=np.uint32).reshape(4096, 4096)
    return np.stack([rgb >> 16, (rgb >> 8) & 255, rgb & 255], -1).astype(np.uint8)


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


def run_script(script, *args, cwd, check=True, env=None):
    """Run one of the four scripts as a user would, in a fresh process."""
    return scripts.run_script(script, *args, cwd=cwd, check=check, env=env, timeout=600)


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


TINY = ["--epochs", "1", "--batch-size", "16", "--latent-dim", "8", "--width", "8"]
# For runs whose subject is not what the decoder reads: each script run then spends no time
# building the backbone and reading every image with it. The pipeline, mirrored training and
# the default model's learning test keep it.
NO_BACKBONE = ["--backbone", "none"]


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, archive):
    """cleanup -> augment -> train -> test, once; returns the work folder and each script's output."""
    archive_dir, n_color, n_gray = archive
    work = tmp_path_factory.mktemp("work")
    out = {"cleanup": run_script("cleanup_data.py", "--source", archive_dir, cwd=work).stdout,
           "augment": run_script("augment_data.py", cwd=work).stdout,
           "augment_again": run_script("augment_data.py", cwd=work).stdout,
           "train": run_script("train.py", *TINY, cwd=work).stdout}
    test_images = work / config.TEST_IMAGES_DIR
    test_images.mkdir()
    for i, path in enumerate(sorted(archive_dir.glob("*/*"))[:4]):
        with Image.open(path) as img:  # any size, any format
            img.save(test_images / f"photo{i}{'.jpg' if i % 2 else '.png'}")
            if i == 0:
                img.convert("L").save(test_images / "gray.png")
    out["test"] = run_script("test.py", "--samples", "3", "--seed", "7", cwd=work).stdout
    return work, out, n_color, n_gray


def _png_claiming(width, height):
    """The bytes of a PNG whose header claims width×height pixels and that holds none."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def stderr_lines(result):
    """The lines a script wrote to stderr, less TensorFlow's own start-up log lines."""
    tf_log = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl")
    return [line for line in result.stderr.strip().splitlines() if not line.startswith(tf_log)]


def make_messy_folder(root, photos, flat=False):
    """Real photos in every format and name a user's folder may hold, plus files that are no
    photo at all. Returns (good relative paths, grayscale relative paths, bad relative paths).

    photos: uint8 RGB arrays, reused in turn if fewer than 12 (the bundled fallback has 10).
    flat puts everything in root itself.
    """
    import cv2

    photos = [photos[i % len(photos)] for i in range(12)]

    def place(folder, name):
        path = root / name if flat else root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    imgs = [Image.fromarray(p) for p in photos]
    good = {
        place("n01", "photo.jpg"): lambda p: imgs[0].save(p, quality=90),
        place("n01", "photo.png"): lambda p: imgs[1].save(p),
        place("n01", "palette.gif"): lambda p: imgs[2].convert("P", palette=Image.Palette.ADAPTIVE).save(p),
        place("n02", "alpha.png"): lambda p: imgs[3].convert("RGBA").save(p),
        place("n02", "cmyk.jpg"): lambda p: imgs[4].convert("CMYK").save(p),
        place("n02", "deep16.png"): lambda p: cv2.imwrite(
            str(p), cv2.cvtColor(photos[5], cv2.COLOR_RGB2BGR).astype(np.uint16) * 257),
        place("n03", "with space é.JPG"): lambda p: imgs[6].save(p, format="JPEG"),
        place("n04", "twin.jpg"): lambda p: imgs[7].save(p),
        place("n05", "twin.jpg" if not flat else "twin2.jpg"): lambda p: imgs[8].save(p),
        place("n06", "upright.jpg"): lambda p: imgs[9].save(p, quality=95),
        place("n06", "rotated.jpg"): lambda p: _save_with_orientation(imgs[9], p),
    }
    for path, write in good.items():
        write(path)
    gray_path = place("n07", "gray.jpg")
    imgs[10].convert("L").save(gray_path)
    bad = {
        place("bad", "truncated.jpg"): None, place("bad", "empty.png"): b"",
        place("bad", "text.jpg"): b"this is not a photo\n", place("bad", "bomb.png"): _png_claiming(60000, 60000),
        place("", "README.txt"): b"Photos from the archive.\n",
    }
    imgs[11].save(next(iter(bad)), quality=95)
    truncated = next(iter(bad))
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    for path, content in bad.items():
        if content is not None:
            path.write_bytes(content)
    rel = lambda paths: [p.relative_to(root) for p in paths]
    return rel(good), rel([gray_path]), rel(bad)


def _save_with_orientation(img, path):
    """Store img turned on its side, with the EXIF tag (6) that tells viewers to turn it upright."""
    exif = Image.Exif()
    exif[0x0112] = 6
    img.transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)


def tree_snapshot(root):
    """{relative path: bytes} of every file below root."""
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def pytest_collection_modifyitems(items):
    """Under pytest -n --dist loadgroup, one worker runs a file's tests; the files whose tests
    use the pipeline fixture, one worker for all of them, which then trains it once."""
    users = {item.path for item in items if "pipeline" in getattr(item, "fixturenames", ())}
    for item in items:
        group = "pipeline" if item.path in users else item.path.name
        item.add_marker(pytest.mark.xdist_group(group))
