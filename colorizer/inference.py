"""Coloring with a trained decoder: the z of each colorization, and the decoder run in batches.

TensorFlow is imported where the decoder runs, not with this module: a script imports it through
colorizer.import_keras, which holds back its start-up log."""

import numpy as np

from .color import merge
from .config import DECODER_BATCH, TEMPERATURE


def prior_z(n_photos, samples, latent_dim, seed=None, temperature=TEMPERATURE):
    """z for `samples` colorizations of each of n_photos, photo after photo, float32.

    The first of each photo is the prior's center, z = 0: the model's most typical colorization,
    and the safest single guess. The others are drawn from N(0, temperature² I) and differ from it.
    """
    z = temperature * np.random.default_rng(seed).standard_normal((n_photos, samples, latent_dim))
    z[:, 0] = 0
    return z.reshape(n_photos * samples, latent_dim).astype(np.float32)


def chroma_batches(decoder, grays, z, batch_size=DECODER_BATCH):
    """The decoder's chroma for len(z) // len(grays) colorizations of each gray, photo after
    photo, the colorizations of whole photos, up to batch_size, at a time: uint8 grays (P, S, S)
    and z (P·N, latent) -> yields (index of the batch's first photo, float32 chroma (photos in
    the batch · N, S, S, 2))."""
    import tensorflow as tf

    from .backbone import backbone_for

    samples = len(z) // len(grays)
    photos_per_batch = max(1, batch_size // samples)
    backbone = backbone_for(decoder)
    # One traced graph, not predict: predict would spread the work over a tf.distribute cluster,
    # which a callback running on the chief alone must not do. The graph runs the decoder faster
    # than layer-by-layer eager calls (docs/speed.md), with the same numbers.
    # The backbone reads each photo once; its maps are repeated for the photo's samples.
    @tf.function(input_signature=[tf.TensorSpec((None, z.shape[-1]), tf.float32),
                                  tf.TensorSpec((None, *grays.shape[1:], 1), tf.float32)])
    def decode(z_batch, gray_batch):
        maps = backbone(gray_batch, training=False) if backbone is not None else []
        condition = [tf.repeat(x, samples, axis=0) for x in (gray_batch, *maps)]
        return decoder([z_batch, *condition], training=False)

    for first in range(0, len(grays), photos_per_batch):
        gray_batch = grays[first:first + photos_per_batch, ..., None].astype(np.float32)
        z_batch = z[first * samples:(first + photos_per_batch) * samples]
        yield first, decode(z_batch, gray_batch).numpy()


def predict_chroma(decoder, grays, z, batch_size=DECODER_BATCH):
    """chroma_batches, all at once: float32 chroma (P·N, S, S, 2)."""
    return np.concatenate([chroma for _, chroma in chroma_batches(decoder, grays, z, batch_size)])


def colorize(decoder, grays, z):
    """Colorizations at the model's size: predict_chroma merged onto each gray, uint8 RGB."""
    return merge(np.repeat(grays, len(z) // len(grays), axis=0), predict_chroma(decoder, grays, z))
