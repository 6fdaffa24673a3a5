"""Training input: PNG files -> tf.data batches of ((gray float 0–255, *the backbone's maps),
chroma), streamed and cached as uint8; the backbone's maps computed once per image."""

import numpy as np
import tensorflow as tf

from .color import rgb_to_chroma, rgb_to_gray

MAPS_BATCH = 64  # images per backbone call while filling the maps' cache


def _split_batch(batch_rgb):
    return rgb_to_gray(batch_rgb), rgb_to_chroma(batch_rgb)


def _read_images(paths, size):
    """(index, uint8 RGB (S, S, 3)) per path, in order."""
    def read(index, path):
        img = tf.io.decode_png(tf.io.read_file(path), channels=3)
        return index, tf.ensure_shape(img, (size, size, 3))

    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), [str(p) for p in paths]))
    return ds.map(read, num_parallel_calls=tf.data.AUTOTUNE)


def backbone_maps(backbone, paths, size):
    """The frozen backbone's maps of every image, float16 arrays (N, ...) in the backbone's
    output order: the gray is not augmented at random while training, so each image's maps are
    the same every epoch and are computed once per run. About 138 KB an image at 112 px; () for
    no backbone."""
    if backbone is None or not paths:
        return ()
    read_maps = tf.function(lambda gray: backbone(gray, training=False),
                            input_signature=[tf.TensorSpec((None, size, size, 1), tf.float32)])
    maps = None
    batches = _read_images(paths, size).batch(MAPS_BATCH).prefetch(2).as_numpy_iterator()
    for indices, rgb in batches:
        batch_maps = read_maps(rgb_to_gray(rgb)[..., None].astype(np.float32))
        if maps is None:
            maps = tuple(np.empty((len(paths), *m.shape[1:]), np.float16) for m in batch_maps)
        for all_maps, m in zip(maps, batch_maps):
            all_maps[indices] = m.numpy()
    return maps


def make_dataset(paths, size, batch_size, shuffle, seed=None, drop_remainder=False, maps=()):
    """Batches of ((gray (B, S, S, 1) float32 0–255, *maps' rows float32), chroma (B, S, S, 2)
    float32). maps: backbone_maps of the same paths.

    Decoded photos are cached as uint8 (about 37 KB each at 112 px); the color split runs per
    batch through colorizer.color, the one definition of the representation.
    """
    def split(index, batch_rgb):
        gray, chroma = tf.numpy_function(_split_batch, [batch_rgb], [tf.uint8, tf.float32],
                                         stateful=False)
        gray = tf.ensure_shape(tf.cast(gray, tf.float32)[..., None], (None, size, size, 1))
        rows = tf.numpy_function(lambda i: [m[i] for m in maps], [index],
                                 [tf.float16] * len(maps), stateful=False) if maps else []
        rows = [tf.ensure_shape(tf.cast(r, tf.float32), (None, *m.shape[1:]))
                for r, m in zip(rows, maps)]
        return (gray, *rows), tf.ensure_shape(chroma, (None, size, size, 2))

    ds = _read_images(paths, size).cache()
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    return (ds.batch(batch_size, drop_remainder=drop_remainder)
            .map(split, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
