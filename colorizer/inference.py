"""Coloring with a trained decoder: the z of each colorization, and the decoder run in batches.

TensorFlow is imported where the decoder runs, not with this module: a script imports it through
colorizer.import_keras, which holds back its start-up log."""

import numpy as np

from .color import merge
from .config import DECODER_BATCH, TEMPERATURE, Z_REGIONS_LAYER


def prior_z(n_photos, samples, latent_dim, seed=None, temperature=TEMPERATURE, regions=1):
    """z for `samples` colorizations of each of n_photos, photo after photo, float32.

    The first of each photo is the prior's center, z = 0: the model's most typical colorization,
    and the safest single guess. The others lie where N(0, temperature² I) has its mass, at
    temperature·√d from the center for each region's d numbers of z, and point apart: a region's
    part of z takes, draw after draw, +q1, −q1, +q2, −q2, … of a random orthonormal basis (a new
    one after 2d draws), so that a photo's few draws spread over each region's colors where
    independent ones would land near each other (docs/quality.md, "Draws that point apart").
    """
    d = latent_dim // regions
    draws = samples - 1
    bases = -(-draws // (2 * d))
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n_photos, regions, bases, d, d)))
    # the basis' vectors (q's columns), each followed by its opposite
    directions = np.stack([q, -q], axis=-1).transpose(0, 1, 2, 4, 5, 3)
    directions = directions.reshape(n_photos, regions, bases * 2 * d, d)[:, :, :draws]
    z = np.zeros((n_photos, samples, latent_dim))
    z[:, 1:] = temperature * np.sqrt(d) * directions.transpose(0, 2, 1, 3).reshape(
        n_photos, draws, latent_dim)
    return z.reshape(n_photos * samples, latent_dim).astype(np.float32)


def z_regions(decoder):
    """How many regions a decoder's z is split among (colorizer.model): 1 where z is alike
    everywhere."""
    if Z_REGIONS_LAYER not in {layer.name for layer in decoder.layers}:
        return 1
    return decoder.get_layer(Z_REGIONS_LAYER).output.shape[-1]


def chroma_batches(decoder, grays, z, batch_size=DECODER_BATCH):
    """The decoder's chroma for len(z) // len(grays) colorizations of each gray, photo after
    photo: uint8 grays (P, S, S) and z (P·N, latent) -> yields (index of the batch's first photo,
    float32 chroma (photos in the batch · N, S, S, 2)), the colorizations of whole photos, as many
    photos as fill batch_size (at least one), decoded batch_size at a time."""
    import tensorflow as tf

    from .backbone import backbone_for

    samples = len(z) // len(grays)
    photos_per_batch = max(1, batch_size // samples)
    backbone = backbone_for(decoder)
    z_spec, *condition_specs = (tf.TensorSpec(x.shape, tf.float32) for x in decoder.inputs)

    # The backbone reads each photo once; each colorization gathers its photo's maps.
    @tf.function(input_signature=condition_specs[:1])
    def see(gray_batch):
        return [gray_batch, *(backbone(gray_batch, training=False) if backbone else [])]

    # One traced graph, not predict: predict would spread the work over a tf.distribute cluster,
    # which a callback running on the chief alone must not do. The graph runs the decoder faster
    # than layer-by-layer eager calls (docs/speed.md), with the same numbers.
    @tf.function(input_signature=[z_spec, condition_specs, tf.TensorSpec((None,), tf.int32)])
    def decode(z_batch, condition, photo_of_row):
        return decoder([z_batch, *(tf.gather(x, photo_of_row) for x in condition)],
                       training=False)

    for first in range(0, len(grays), photos_per_batch):
        gray_batch = grays[first:first + photos_per_batch, ..., None].astype(np.float32)
        condition = see(gray_batch)
        photo_of_row = np.repeat(np.arange(len(gray_batch), dtype=np.int32), samples)
        z_batch = z[first * samples:(first + len(gray_batch)) * samples]
        yield first, np.concatenate([
            decode(z_batch[at:at + batch_size], condition, photo_of_row[at:at + batch_size]).numpy()
            for at in range(0, len(z_batch), batch_size)])


def predict_chroma(decoder, grays, z, batch_size=DECODER_BATCH):
    """chroma_batches, all at once: float32 chroma (P·N, S, S, 2)."""
    return np.concatenate([chroma for _, chroma in chroma_batches(decoder, grays, z, batch_size)])


def colorize(decoder, grays, z):
    """Colorizations at the model's size: predict_chroma merged onto each gray, uint8 RGB."""
    return merge(np.repeat(grays, len(z) // len(grays), axis=0), predict_chroma(decoder, grays, z))
