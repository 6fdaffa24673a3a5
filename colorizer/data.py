"""Training input: PNG files -> tf.data batches of ({"gray": float 0–255, map name: the
backbone's map}, chroma), decoded as each batch needs them; the backbone's maps computed once per
image, kept as 8-bit codes, and on disk for the next run on the same images."""

import dataclasses
import errno
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from .color import rgb_to_chroma, rgb_to_gray
from .images import spread

# Pixels per backbone call while filling the maps' cache: 64 images at 112 px, fewer as they grow,
# so that the pass takes the same memory at any size (the backbone reads twice the side).
MAPS_BATCH_PIXELS = 64 * 112**2
CACHE_NAME = re.compile(r"maps-[0-9a-f]{16}(\.tmp\w+)?")  # the sets backbone_maps writes
# Each channel's scale is fitted to this many images spread over the set; a code is a signed
# byte, the largest magnitude seen on them at CODE_MAX.
CALIBRATION_IMAGES = 256
CODE_MAX = 127
CACHE_FORMAT = "int8-per-channel"  # in the cache's name: a set of another format is not read


@dataclasses.dataclass(frozen=True)
class QuantizedMaps:
    """One backbone map of N images as int8 codes (N, h, w, C) and a float32 scale per channel
    (C,): half the bytes of float16, and what each image's value loses is at most half a step of
    its channel's scale (docs/speed.md, "Training at scale")."""
    codes: np.ndarray
    scale: np.ndarray

    @classmethod
    def scale_for(cls, maps):
        """The scale per channel that codes maps ((N, h, w, C), a sample of the set) whole."""
        peak = np.abs(maps).max(axis=tuple(range(maps.ndim - 1))).astype(np.float32)
        return np.where(peak > 0, peak / CODE_MAX, 1).astype(np.float32)

    def encode(self, maps):
        """float maps (n, h, w, C) -> their int8 codes, beyond the calibrated peak clipped."""
        return np.clip(np.rint(maps / self.scale), -CODE_MAX, CODE_MAX).astype(np.int8)

    def rows(self, indices):
        """The maps of the images at indices, float32."""
        return self.codes[indices].astype(np.float32) * self.scale

    def __getitem__(self, index):
        return QuantizedMaps(self.codes[index], self.scale)

    @property
    def shape(self):
        return self.codes.shape


def _split_batch(batch_rgb):
    return rgb_to_gray(batch_rgb), rgb_to_chroma(batch_rgb)


def _decoder(size):
    """(index, path) -> (index, uint8 RGB (S, S, 3)), for tf.data."""
    def read(index, path):
        img = tf.io.decode_png(tf.io.read_file(path), channels=3)
        return index, tf.ensure_shape(img, (size, size, 3))
    return read


def _read_images(paths, size):
    """(index, uint8 RGB (S, S, 3)) per path, in order."""
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), [str(p) for p in paths]))
    return ds.map(_decoder(size), num_parallel_calls=tf.data.AUTOTUNE)


def backbone_maps(backbone, paths, size, cache=None, log=lambda line: None):
    """The frozen backbone's maps of every image, {map name: QuantizedMaps (N, ...)}: the gray
    is not augmented at random while training, so each image's maps are the same every epoch
    and are computed once. About 69 KB an image at 112 px; {} for no backbone.

    cache: cache_folder's answer for these images, where they are kept on disk, memory-mapped:
    read from there if an earlier run left them, else written there for the next run on the same
    images (--resume, other settings), instead of running the backbone again for minutes. None,
    or too little free disk: in memory, for this run. A set that is damaged (cut short by a
    copy, not the maps of these images) is only a cache: it is made again. log(line): where the
    maps come from, for the user, before the minutes the backbone may take."""
    if backbone is None or not paths:
        return {}
    shapes = {name: (len(paths), *shape) for name, shape in _map_shapes(backbone).items()}
    if cache is not None and cache.is_dir():
        maps, problem = _read_cache(cache, shapes)
        if maps is not None:
            log(f"the backbone's maps of the {len(paths)} images are an earlier run's, in "
                f"{cache}/")
            return maps
        log(f"the backbone's maps in {cache}/ are damaged ({problem}): it reads the "
            f"{len(paths)} images again")
        shutil.rmtree(cache)
    else:
        log(f"the backbone reads the {len(paths)} images once")
    scales = _calibrate(backbone, paths, size)
    if cache is not None and _room_for(shapes.values(), cache.parent):
        _write_cache(cache, shapes, scales,
                     lambda maps: _fill_maps(backbone, paths, size, maps))
        return _read_cache(cache, shapes)[0]
    return _fill_maps(backbone, paths, size,
                      {name: QuantizedMaps(np.empty(shape, np.int8), scales[name])
                       for name, shape in shapes.items()})


def _read_cache(folder, shapes):
    """({map name: the memory-mapped QuantizedMaps in folder}, None), or (None, what is wrong)
    where a file is missing, damaged, or not of its shape and type."""
    maps = {}
    for name, shape in shapes.items():
        arrays = {}
        for path, dtype, want in ((folder / f"{name}.npy", np.int8, shape),
                                  (folder / f"{name}.scale.npy", np.float32, shape[-1:])):
            try:
                arrays[dtype] = np.load(path, mmap_mode="r")
            except (OSError, ValueError, EOFError) as err:
                return None, (f"{path.name}: "
                              f"{str(err).splitlines()[0] if str(err) else type(err).__name__}")
            if arrays[dtype].shape != want or arrays[dtype].dtype != dtype:
                return None, (f"{path.name} holds {arrays[dtype].dtype} {arrays[dtype].shape}, "
                              f"not {np.dtype(dtype)} {want}")
        maps[name] = QuantizedMaps(arrays[np.int8], np.array(arrays[np.float32]))
    return maps, None


def _map_shapes(backbone):
    """{map name: shape of one image's map} of a backbone model."""
    return {name: tuple(output.shape[1:]) for name, output in backbone.output.items()}


def cache_folder(cache_dir, backbone, paths, size):
    """Where in cache_dir backbone_maps keeps these images' maps: its name changes with the
    backbone, the size, and any image's name, order, size in bytes or time of change."""
    listing = [(p.name, (stat := p.stat()).st_size, stat.st_mtime_ns) for p in map(Path, paths)]
    text = json.dumps([CACHE_FORMAT, backbone.name, sorted(_map_shapes(backbone)), size, listing])
    return Path(cache_dir) / f"maps-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _map_reader(backbone, size):
    """gray uint8 (B, S, S) -> {map name: float32 maps}, one traced graph."""
    read = tf.function(lambda gray: backbone(gray, training=False),
                       input_signature=[tf.TensorSpec((None, size, size, 1), tf.float32)])
    return lambda gray: {name: m.numpy() for name, m in
                         read(gray[..., None].astype(np.float32)).items()}


def _calibrate(backbone, paths, size):
    """{map name: the scale per channel (C,)} of the maps of CALIBRATION_IMAGES of paths, spread
    over them."""
    sample = spread(paths, CALIBRATION_IMAGES)
    read_maps, batch = _map_reader(backbone, size), max(1, MAPS_BATCH_PIXELS // size**2)
    batches = _read_images(sample, size).batch(batch).as_numpy_iterator()
    peaks = [read_maps(rgb_to_gray(rgb)) for _, rgb in batches]
    return {name: QuantizedMaps.scale_for(np.concatenate([p[name] for p in peaks]))
            for name in peaks[0]}


def _fill_maps(backbone, paths, size, maps):
    """Each image's maps, coded, into its row of maps ({map name: QuantizedMaps (N, ...)}),
    batch by batch."""
    read_maps, batch = _map_reader(backbone, size), max(1, MAPS_BATCH_PIXELS // size**2)
    batches = _read_images(paths, size).batch(batch).prefetch(2).as_numpy_iterator()
    for indices, rgb in batches:
        for name, batch_maps in read_maps(rgb_to_gray(rgb)).items():
            maps[name].codes[indices] = maps[name].encode(batch_maps)
    return maps


def _room_for(shapes, cache_dir):
    """Whether the disk under cache_dir (or its nearest existing parent) holds the maps twice."""
    folder = Path(cache_dir).absolute()
    while not folder.exists():
        folder = folder.parent
    need = sum(np.prod(shape, dtype=np.int64) for shape in shapes)  # a byte a value
    return shutil.disk_usage(folder).free > 2 * need


def _write_cache(folder, shapes, scales, fill):
    """fill({map name: QuantizedMaps of its shape and scale, memory-mapped}) in a temporary
    folder that then takes folder's name, whole or not at all; the other sets this program wrote
    beside it are removed."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{folder.name}.tmp", dir=folder.parent))
    try:
        maps = {}
        for name, shape in shapes.items():
            np.save(tmp / f"{name}.scale.npy", scales[name])
            maps[name] = QuantizedMaps(_allocated_memmap(tmp / f"{name}.npy", shape),
                                       scales[name])
        for m in fill(maps).values():
            m.codes.flush()
        del maps
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in folder.parent.iterdir():
        if old != folder and CACHE_NAME.fullmatch(old.name):
            shutil.rmtree(old, ignore_errors=True)


def _allocated_memmap(path, shape):
    """An int8 .npy of shape at path, memory-mapped, its blocks taken on the disk before any
    is written: a disk that fills while a sparse file's pages are written kills the process
    (SIGBUS), where this is an OSError naming the file."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(
            np.dtype(np.int8)), "fortran_order": False, "shape": shape})
        try:
            os.posix_fallocate(f.fileno(), 0, f.tell() + math.prod(shape))
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system that cannot
                raise OSError(err.errno, err.strerror, str(path)) from None
            f.truncate(f.tell() + math.prod(shape))
    return np.lib.format.open_memmap(path, "r+")


def make_dataset(paths, size, batch_size, shuffle, seed=None, drop_remainder=False, maps=None):
    """Batches of ({"gray": (B, S, S, 1) float32 0–255, map name: its rows float32}, chroma
    (B, S, S, 2) float32): the decoder's condition and the color. maps: backbone_maps of the
    same paths.

    What is shuffled is each image's index and file name, not its pixels, and every epoch
    decodes the PNGs anew (on tf.data's threads, a few percent of a step): memory does not grow
    with the number of photos. The color split runs per batch through colorizer.color, the one
    definition of the representation.
    """
    def split(index, batch_rgb):
        gray, chroma = tf.numpy_function(_split_batch, [batch_rgb], [tf.uint8, tf.float32],
                                         stateful=False)
        gray = tf.ensure_shape(tf.cast(gray, tf.float32)[..., None], (None, size, size, 1))
        rows = tf.numpy_function(lambda i: [m.rows(i) for m in maps.values()], [index],
                                 [tf.float32] * len(maps), stateful=False) if maps else []
        condition = {"gray": gray, **{name: tf.ensure_shape(r, (None, *m.shape[1:]))
                                      for r, (name, m) in zip(rows, maps.items())}}
        return condition, tf.ensure_shape(chroma, (None, size, size, 2))

    maps = maps or {}
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), [str(p) for p in paths]))
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    return (ds.map(_decoder(size), num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=drop_remainder)
            .map(split, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
