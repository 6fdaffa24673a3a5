"""Image files: find them, open them upright in RGB, square-crop them, name and crop them for
training, read the photos test.py colors.

No TensorFlow here: cleanup_data.py and augment_data.py use this module alone.
"""

import hashlib
import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import UserError
from .cli import available_memory
from .color import rgb_to_gray
from .config import IMAGE_SIZE, MIN_SIDE, OWN_SIZE_BYTES_PER_PIXEL, PHOTO_THREADS, SIZE_MULTIPLE
from .files import PNG_END
from .tiling import Tiling

# Whatever Pillow raises for a file it cannot decode: its plugins raise errors of many kinds for
# damaged files (a damaged AVIF raises RuntimeError), and one bad photo must only be skipped.
# An interruption is no Exception (colorizer.cli.Interrupted) and passes.
UNREADABLE = (Exception,)
# The formats a photo comes in. Pillow opens others by their content whatever a file's name,
# among them PostScript, which it hands to Ghostscript, a program: never opened here.
# (JPEG's opener also opens a camera's MPO.)
PHOTO_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "AVIF", "JPEG2000", "PPM",
                 "TGA", "PCX", "SGI", "ICO", "QOI", "PSD")

# Color photos shipped inside the dependencies, so the pipeline runs with no download.
_SKIMAGE_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "ihc.png",
                   "motorcycle_left.png", "motorcycle_right.png", "hubble_deep_field.jpg",
                   "retina.jpg"]
_MATPLOTLIB_PHOTOS = ["grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"]

CROPS_PER_PHOTO = 4
CROP_FRACTION = 0.8  # each augment crop keeps this share of the side, from one corner
_CROP_NAME = re.compile(r"^(?P<original>.+)_crop(?P<index>\d+)$")


def sample_photo_paths():
    """The bundled color photos, as paths."""
    import matplotlib  # imported here: slow to import, and only this list needs them
    import skimage.data

    skimage_dir = Path(skimage.data.data_dir)
    matplotlib_dir = Path(matplotlib.get_data_path()) / "sample_data"
    return ([skimage_dir / name for name in _SKIMAGE_PHOTOS]
            + [matplotlib_dir / name for name in _MATPLOTLIB_PHOTOS])


def walk_files(folder, on_loop=None):
    """Every file below folder, recursively, in a stable order, following links to folders;
    a link back to a folder already walked (a loop) is passed to on_loop and not entered."""
    walked, files = set(), []
    for root, dirs, names in os.walk(folder, followlinks=True):
        walked.add(os.path.realpath(root))
        for name in sorted(dirs):
            if os.path.realpath(os.path.join(root, name)) in walked | _ancestors(root):
                dirs.remove(name)
                if on_loop:
                    on_loop(Path(root) / name)
        files += [Path(root) / name for name in names]
    return sorted(files)


def _ancestors(folder):
    real = Path(os.path.realpath(folder))
    return {str(p) for p in (real, *real.parents)}


def open_rgb(path, size=None):
    """Open any image Pillow reads, rotated upright by its EXIF tag, as RGB on white.

    size lets a JPEG decode at a reduced scale that is still at least size×size (draft mode).
    Raises one of UNREADABLE for a file that is not a whole, sane image of PHOTO_FORMATS.
    """
    img = Image.open(path, formats=PHOTO_FORMATS)
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
    if not path.exists():
        return "disappeared (deleted or moved during the run)"
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
        return f"not an image in a photo format ({', '.join(PHOTO_FORMATS[:4])}, ...)"
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
    digest = hashlib.sha1(os.fsencode(Path(relative_path).as_posix())).hexdigest()[:8]
    return f"{stem[:80]}-{digest}.png"


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
            return f.read() == PNG_END
    except OSError:  # missing, shorter than 12 bytes, or not a regular file
        return False


def png_damage(path):
    """Why a PNG in images/ can't be read whole (cut short, a chunk's checksum wrong, a broken
    data stream in its middle), or None."""
    if not is_whole_png(path):
        return "empty or cut short"
    try:
        with Image.open(path, formats=["PNG"]) as img:
            img.verify()  # every chunk's checksum
        with Image.open(path, formats=["PNG"]) as img:
            img.load()  # every pixel
    except UNREADABLE as err:
        return f"damaged ({unreadable_reason(path, err)})"
    return None


def spread(paths, count):
    """At most count of paths, evenly spaced over them: a set's photos come folder by folder."""
    return paths[::max(1, len(paths) // count)][:count]


def list_images(folder):
    """The PNG files directly in folder, sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() == ".png" and p.is_file())


def whole_pngs(folder, on_damaged):
    """list_images of folder (none where it is no folder) less those png_damage finds damaged,
    read on every core (Pillow decodes outside the GIL); on_damaged(path, reason) for those."""
    paths = list_images(folder) if Path(folder).is_dir() else []
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        damage = list(pool.map(png_damage, paths))
    for path, reason in zip(paths, damage):
        if reason:
            on_damaged(path, reason)
    return [path for path, reason in zip(paths, damage) if not reason]


def common_side(paths):
    """The side of the training PNGs at paths, squares of one size; UserError where they differ
    or are not squares a multiple of SIZE_MULTIPLE a side."""
    sizes = {}
    for path in paths:
        with Image.open(path, formats=["PNG"]) as img:
            sizes.setdefault(img.size, path)
    if len(sizes) > 1:
        (a, pa), (b, pb) = list(sizes.items())[:2]
        raise UserError(f"images differ in size ({pa.name} is {a}, {pb.name} is {b}); re-run "
                        "cleanup_data.py and augment_data.py into an empty folder")
    (width, height), path = next(iter(sizes.items()))
    if width != height or width % SIZE_MULTIPLE:
        raise UserError(f"{path.name} is {width}x{height}; training needs squares whose side is "
                        f"a multiple of {SIZE_MULTIPLE}: run cleanup_data.py --size {IMAGE_SIZE}")
    return width


def split_by_original(paths, val_fraction, seed):
    """Split paths into (train, val) so all crops of one original photo land on the same side.
    Each original's side follows from a hash of its name and the seed alone, so photos added
    later never move one across (a --resume on more photos keeps its validation photos); with
    two originals or more, at least one is held out."""
    def share(stem):
        return zlib.crc32(f"{seed}:{stem}".encode()) / 2**32

    groups = sorted({original_stem(p) for p in paths}, key=share)
    val_groups = {g for g in groups if share(g) < val_fraction} or set(groups[:len(groups) > 1])
    train = [p for p in paths if original_stem(p) not in val_groups]
    val = [p for p in paths if original_stem(p) in val_groups]
    return train, val


def folders_overlap(a, b):
    """True when folder a is folder b, or one lies inside the other."""
    a, b = Path(a).resolve(), Path(b).resolve()
    return a == b or a in b.parents or b in a.parents


def load_array(path):
    """A PNG from images/ as uint8 RGB (H, W, 3)."""
    with Image.open(path, formats=["PNG"]) as img:
        return np.asarray(img.convert("RGB"))


def training_colors(paths, count, seed):
    """The chroma of `count` of the training PNGs (all if fewer), chosen by seed: how common each
    color is, for the model's class prior and rebalancing weights. float32 (N, S, S, 2)."""
    from .color import rgb_to_chroma

    chosen = np.random.default_rng(seed).choice(len(paths), min(len(paths), count), replace=False)
    return np.stack([rgb_to_chroma(load_array(paths[i])) for i in chosen])


# -- the photos test.py colors ------------------------------------------------------------------
class Skipped(Exception):
    """A photo test.py leaves out; its message is the reason."""


def read_photo(path, size, as_square):
    """(the photo as test.py colors it, uint8 RGB, and its gray, both None at its own size,
    where they are read again when written; the Tiling the model sees it through), or Skipped
    with the reason. as_square: center-cropped and resized to size×size, the original
    project's way."""
    try:
        if not as_square and (reason := too_big(path)):
            raise Skipped(reason)
        img_rgb = np.asarray(square(open_rgb(path, size), size) if as_square else open_rgb(path))
    except UNREADABLE as err:
        raise Skipped(unreadable_reason(path, err)) from None
    if min(img_rgb.shape[:2]) < MIN_SIDE:
        raise Skipped(f"{img_rgb.shape[1]}x{img_rgb.shape[0]} pixels, too small to color (at "
                      f"least {MIN_SIDE} a side)")
    gray = rgb_to_gray(img_rgb)
    if as_square:
        return img_rgb, gray, Tiling(gray, size)
    return None, None, Tiling(gray, size)  # at full size one photo at a time is held whole


def too_big(path, free=None):
    """Why coloring path at its own size would not fit in `free` bytes (default: what this
    process may still take, colorizer.cli.available_memory) with PHOTO_THREADS photos at a
    time, or None. Reads only the header."""
    with Image.open(path, formats=PHOTO_FORMATS) as img:
        width, height = img.size
    need = width * height * OWN_SIZE_BYTES_PER_PIXEL * PHOTO_THREADS
    if free is None:
        free = available_memory()
    if need <= free:
        return None
    return (f"{width}x{height} pixels: coloring it at full size needs about {need / 2**30:.1f} "
            f"GB, more than the {free / 2**30:.1f} GB free; color it with --square")


def read_photos(paths, size, as_square, on_skip):
    """(paths, photos, grays, tilings) of those of paths read_photo reads, on every core
    (Pillow decodes outside the GIL); on_skip(path, reason) for the others."""
    def read(path):
        try:
            return read_photo(path, size, as_square)
        except Skipped as skipped:
            return str(skipped)

    with ThreadPoolExecutor(PHOTO_THREADS) as pool:
        loaded = list(pool.map(read, paths))
    kept = []
    for path, result in zip(paths, loaded):
        if isinstance(result, str):
            on_skip(path, result)
        else:
            kept.append((path, *result))
    return [list(column) for column in zip(*kept)] or [[], [], [], []]
