"""Training input: PNG files -> tf.data batches of (gray float 0–255, chroma), streamed and cached
as uint8."""

import numpy as np
import tensorflow as tf

from .color import rgb_to_chroma, rgb_to_gray


def _split_batch(batch_rgb):
    return rgb_to_gray(batch_rgb), rgb_to_chroma(batch_rgb)


def make_dataset(paths, size, batch_size, shuffle, seed=None, drop_remainder=False):
    """Batches of (gray (B, S, S, 1) float32 0–255, chroma (B, S, S, 2) float32).

    Decoded photos are cached as uint8 (about 37 KB each at 112 px); the color split runs per
    batch through colorizer.color, the one definition of the representation.
    """
    def read(path):
        img = tf.io.decode_png(tf.io.read_file(path), channels=3)
        return tf.ensure_shape(img, (size, size, 3))

    def split(batch_rgb):
        gray, chroma = tf.numpy_function(_split_batch, [batch_rgb], [tf.uint8, tf.float32],
                                         stateful=False)
        gray = tf.ensure_shape(tf.cast(gray, tf.float32)[..., None], (None, size, size, 1))
        return gray, tf.ensure_shape(chroma, (None, size, size, 2))

    ds = tf.data.Dataset.from_tensor_slices(np.array([str(p) for p in paths]))
    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    return (ds.batch(batch_size, drop_remainder=drop_remainder)
            .map(split, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
