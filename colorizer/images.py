"""Image files: find them, open them upright in RGB, square-crop them, name and write the results.

No TensorFlow here: cleanup_data.py and augment_data.py use this module alone.
"""

import contextlib
import csv
import hashlib
import io
import os
import random
import re
import struct
import tempfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import IMAGE_SIZE, LABELS_FILE

# Everything Pillow raises for a file it cannot decode, its decompression-bomb guard included.
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)

# Color photos shipped inside the dependencies, so the pipeline runs with no download.
_SKIMAGE_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "ihc.png",
                   "motorcycle_left.png", "motorcycle_right.png", "hubble_deep_field.jpg",
                   "retina.jpg"]
_MATPLOTLIB_PHOTOS = ["grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"]

CROPS_PER_PHOTO = 4
CROP_FRACTION = 0.8  # each augment crop keeps this share of the side, from one corner
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk that closes every PNG
_CROP_NAME = re.compile(r"^(?P<original>.+)_crop(?P<index>\d+)$")


def sample_photo_paths():
    """The bundled color photos, as paths."""
    import matplotlib  # imported here: slow to import, and only this list needs them
    import skimage.data

    skimage_dir = Path(skimage.data.data_dir)
    matplotlib_dir = Path(matplotlib.get_data_path()) / "sample_data"
    return ([skimage_dir / name for name in _SKIMAGE_PHOTOS]
            + [matplotlib_dir / name for name in _MATPLOTLIB_PHOTOS])


def walk_files(folder):
    """Every file below folder, recursively, in a stable order."""
    return sorted(Path(root) / name for root, _, names in os.walk(folder) for name in names)


def open_rgb(path, size=None):
    """Open any image Pillow reads, rotated upright by its EXIF tag, as RGB on white.

    size lets a JPEG decode at a reduced scale that is still at least size×size (draft mode).
    Raises one of UNREADABLE for a file that is not a whole, sane image.
    """
    img = Image.open(path)
    if size is not None and img.format == "JPEG":
        img.draft("RGB", (size, size))
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float gray: scale, not clip
        values = np.asarray(img, np.float64)
        top = 65535 if img.mode != "F" and values.max() > 255 else max(values.max(), 1)
        return Image.fromarray(np.uint8(np.clip(values * (255 / top), 0, 255) + 0.5)).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        flat = Image.new("RGB", img.size, "white")
        flat.paste(img, mask=img.getchannel("A"))
        return flat
    return img.convert("RGB")


def unusable_reason(path):
    """Why path can't be opened as a photo without trying: a folder, a broken link, or a named
    pipe, socket or device (never opened: reading one can block forever); None for a file."""
    path = Path(path)
    if path.is_dir():
        return "a folder, not a photo (folders are not searched)"
    if path.is_symlink() and not path.exists():
        return "a broken link or a link loop"
    if not path.is_file():
        return "not a regular file (a named pipe, socket or device)"
    return None


def unreadable_reason(path, err):
    """A short reason why open_rgb failed on path, for a one-line report."""
    if reason := unusable_reason(path):  # it changed since it was listed
        return reason
    if Path(path).stat().st_size == 0:
        return "empty file"
    if isinstance(err, UnidentifiedImageError):
        return "not an image Pillow can read"
    if isinstance(err, Image.DecompressionBombError):
        return "too many pixels (possible decompression bomb)"
    return str(err).split("\n")[0] or type(err).__name__


def square(img, size=IMAGE_SIZE):
    """Center-crop to a square and resize to size×size, as the original project did."""
    return ImageOps.fit(img, (size, size), Image.Resampling.BICUBIC)


def photo_name(relative_path):
    """A flat, unique, file-system-safe PNG name for a photo found at relative_path in a source.

    The stem stays readable; a short hash of the whole relative path keeps two photos with
    the same name in different folders apart.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(relative_path).stem).strip("._") or "photo"
    digest = hashlib.sha1(Path(relative_path).as_posix().encode()).hexdigest()[:8]
    return f"{stem[:80]}-{digest}.png"


def sample_name(stem, index):
    """test.py's file name for the index-th (0-based) colorization of the photo with this stem."""
    return f"{stem}.png" if index == 0 else f"{stem}_{index + 1}.png"


def output_stems(paths, samples):
    """test.py's output stem per photo: its own stem where that is free, else its whole name,
    else that with a number, so that no two photos' samples share a file (cat.jpg's second
    sample and cat_2.jpg's first would both be cat_2.png)."""
    counts = Counter(Path(p).stem for p in paths)
    taken, stems = set(), []
    for path in map(Path, paths):
        base = path.stem if counts[path.stem] == 1 else path.name.replace(".", "_")
        stem, n = base, 1
        while any(sample_name(stem, i) in taken for i in range(samples)):
            n += 1
            stem = f"{base}-{n}"
        taken.update(sample_name(stem, i) for i in range(samples))
        stems.append(stem)
    return stems


def corner_crops(img):
    """The augment crops of a photo: one from each corner, resized back to a square of its side."""
    width, height = img.size
    side = min(width, height)
    crop = round(side * CROP_FRACTION)
    corners = [(0, 0), (width - crop, 0), (0, height - crop), (width - crop, height - crop)]
    return [img.crop((x, y, x + crop, y + crop)).resize((side, side), Image.Resampling.BICUBIC)
            for x, y in corners]


def crop_name(original_path, index):
    """File name of an original's index-th augment crop (1-based)."""
    return f"{Path(original_path).stem}_crop{index}.png"


def original_stem(path):
    """The stem of the original photo a file in images/ comes from (itself, or its crop's source)."""
    match = _CROP_NAME.match(Path(path).stem)
    return match["original"] if match else Path(path).stem


def is_crop(path):
    return _CROP_NAME.match(Path(path).stem) is not None


def is_whole_png(path):
    """True for a regular file that ends as every whole PNG does, with the IEND chunk: what a
    write cut short by a crash or a full disk never has. Reads 12 bytes."""
    if not Path(path).is_file():  # a pipe would block: never opened
        return False
    try:
        with open(path, "rb") as f:
            f.seek(-12, os.SEEK_END)
            return f.read() == _PNG_END
    except OSError:  # missing, shorter than 12 bytes, or not a regular file
        return False


def list_images(folder):
    """The PNG files directly in folder, sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() == ".png" and p.is_file())


def split_by_original(paths, val_fraction, seed):
    """Split paths into (train, val) so all crops of one original photo land on the same side."""
    groups = sorted({original_stem(p) for p in paths})
    random.Random(seed).shuffle(groups)
    n_val = min(len(groups) - 1, max(1, round(len(groups) * val_fraction)))
    val_groups = set(groups[:n_val])
    train = [p for p in paths if original_stem(p) not in val_groups]
    val = [p for p in paths if original_stem(p) in val_groups]
    return train, val


def source_label(relative_path):
    """The class of a photo found at relative_path in a source: the name of its folder ("" at
    the source's top), as in the Kaggle layout <wnid>/*.JPEG or Caltech-101's <category>/*.jpg."""
    return Path(relative_path).parent.name


def read_labels(folder):
    """{image file name: label} from folder's labels file; {} where there is none."""
    try:
        with open(Path(folder) / LABELS_FILE, newline="", encoding="utf-8") as f:
            return {row["image"]: row["label"] for row in csv.DictReader(f) if row.get("label")}
    except FileNotFoundError:
        return {}


def write_labels(folder, labels):
    """Write {image file name: label} as folder's labels file, sorted by name, atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["image", "label"])
    writer.writerows(sorted(labels.items()))
    save_text(text.getvalue(), Path(folder) / LABELS_FILE)


def image_label(labels, path):
    """The label of an image in images/: its original photo's (crops share it); "" if none."""
    return labels.get(f"{original_stem(path)}.png", "")


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """A new file that takes path's name only once it is whole: a crash leaves the old file
    or nothing, and two processes writing the same folder never share a temporary file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # as an ordinary new file, not mkstemp's owner-only 0o600
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_png(img):
    """uint8 gray (H, W) or RGB (H, W, 3), or a Pillow image in one of those modes -> PNG bytes.

    Every row carries PNG's "sub" filter (each byte minus the one a pixel to its left), compressed
    by zlib at level 1 with run-length matching: on 112-px photos 0.53 ms against Pillow's 1.11 ms
    at the same settings (it tries filters row by row), files 6 % bigger (docs/speed.md).
    """
    pixels = np.asarray(img)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or pixels.shape[2:] not in ((), (3,)):
        raise ValueError(f"encode_png takes uint8 gray or RGB, not {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else 3
    rows = pixels.reshape(height, width * channels)
    raw = np.empty((height, 1 + width * channels), np.uint8)
    raw[:, 0] = 1  # the filter type of each row: sub
    raw[:, 1:1 + channels] = rows[:, :channels]
    np.subtract(rows[:, channels:], rows[:, :-channels], out=raw[:, 1 + channels:])
    deflate = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_RLE)
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", header),
                     _png_chunk(b"IDAT", deflate.compress(raw.tobytes()) + deflate.flush()),
                     _png_chunk(b"IEND", b"")])


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def save_png(img, path):
    """Write a PNG (encode_png) atomically."""
    data = encode_png(img)
    with atomic_write(path) as f:
        f.write(data)


def save_text(text, path):
    """Write a text file atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)


def folders_overlap(a, b):
    """True when folder a is folder b, or one lies inside the other."""
    a, b = Path(a).resolve(), Path(b).resolve()
    return a == b or a in b.parents or b in a.parents


def load_array(path):
    """A PNG from images/ as uint8 RGB (H, W, 3)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))
