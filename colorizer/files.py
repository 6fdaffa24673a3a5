"""Files this program writes: whole or not at all (atomic), PNGs encoded fast. No TensorFlow here."""

import contextlib
import fcntl
import functools
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import UserError

PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk that closes every PNG
# A member of a .keras file (a zip) that inflates past this many bytes, and to this many times
# what it takes in the file, would exhaust memory as Keras reads it: a decompression bomb. A
# model's weights barely compress; its config.json is kilobytes.
MAX_INFLATED_BYTES, MAX_INFLATION = 256 * 2**20, 100


@contextlib.contextmanager
def atomic_path(path, suffix=".tmp"):
    """A temporary path beside path that takes path's name once the block ends: a crash leaves
    the old file or nothing, and two processes writing the same folder never share a temporary
    file. suffix: the temporary name's ending (Keras insists on ".keras" for a model; ".tmp"
    keeps it out of every listing of photos)."""
    path = Path(path)
    # The temporary name is no longer than the final one can be: a legal name near the file
    # system's limit must not fail for its temporary's sake.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:32]}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask())  # as an ordinary new file, not mkstemp's owner-only 0o600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def umask():
    """The process's umask, read without changing it (os.umask sets it, for every thread)."""
    try:
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("Umask:")).split()[1], 8)
    except (OSError, StopIteration, ValueError):  # not Linux: set it back at once
        mask = os.umask(0o22)
        os.umask(mask)
        return mask


def printable(name):
    """A file name as text that encodes anywhere: bytes that are not UTF-8 (a latin-1 name from
    an old archive) as backslash escapes, so two such names stay apart."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """An open file (atomic_path) that takes path's name once it is whole."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f


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


def inflation_problem(path):
    """Why the .keras file at path would take far more memory to open than its size says (a
    member that inflates past MAX_INFLATED_BYTES, MAX_INFLATION times its stored bytes), or None.
    Reads only the zip's directory; a file that is no zip is Keras' to refuse."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    for member in members:
        if (member.file_size > MAX_INFLATED_BYTES
                and member.file_size > MAX_INFLATION * max(member.compress_size, 1)):
            return (f"its {member.filename} inflates to {member.file_size / 2**30:.1f} GB from "
                    f"{member.compress_size / 2**20:.1f} MB, a decompression bomb")
    return None


def lock_folder(folder, busy):
    """folder (made if need be) to this process alone; UserError(busy) where another process
    holds it. The lock is on the folder itself, so nothing is left in it; it lasts until the
    returned descriptor is closed or the process ends (the system drops it when a process dies)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UserError(busy) from None
    return fd


@contextlib.contextmanager
def folder_lock(folder, busy):
    """lock_folder while the block runs."""
    fd = lock_folder(folder, busy)
    try:
        yield
    finally:
        os.close(fd)
