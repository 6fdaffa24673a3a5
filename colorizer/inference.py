"""Coloring with a trained decoder: the Colorizer, which owns a decoder and reads its layout, and
the z of each colorization.

TensorFlow is imported where the decoder runs, not with this module: a script imports it through
colorizer.import_keras, which holds back its start-up log."""

import numpy as np

from . import UserError, import_keras
from .backbone import BACKBONES, backbone_model, map_shapes
from .color import merge
from .config import DECODER_BATCH, SIZE_MULTIPLE, TEMPERATURE, Z_REGIONS_LAYER
from .files import inflation_problem


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


class NotADecoder(UserError):
    """A model file that is not a colorizer decoder: one line for the user."""


class Colorizer:
    """A trained decoder (colorizer.model), checked against its contract, and the backbone it
    reads: the one place that reads a decoder's inputs. Its inputs are named z (latent,), gray
    (S, S, 1) and then a registered backbone's maps at their shapes (colorizer.backbone), its
    output chroma (S, S, 2), S a multiple of SIZE_MULTIPLE; z is split among the regions of its
    Z_REGIONS_LAYER, if it has one.

        colorizer = Colorizer.load("pretrained/main_vae_decoder.keras")
        img_rgb = colorizer.colorize(grays, colorizer.prior_z(len(grays), samples=3, seed=0))
    """

    def __init__(self, decoder):
        """NotADecoder (its reason) for a model that breaks the contract."""
        self.decoder = decoder
        self.backbone_name, self.latent_dim, self.size = self._read_layout(decoder)
        self.z_regions = (decoder.get_layer(Z_REGIONS_LAYER).output.shape[-1]
                          if Z_REGIONS_LAYER in {layer.name for layer in decoder.layers} else 1)

    @classmethod
    def load(cls, path):
        """The decoder in path, loaded in safe mode; NotADecoder in one line where it cannot be
        loaded or is not a decoder."""
        if problem := inflation_problem(path):
            raise NotADecoder(f"{path} is not a loadable Keras model ({problem}); run train.py "
                              "again")
        keras = import_keras()
        try:
            decoder = keras.saving.load_model(path)  # safe mode stays on
        except Exception as err:  # a damaged file fails deep inside Keras in many ways
            raise NotADecoder(f"{path} is not a loadable Keras model ({type(err).__name__}); "
                              "run train.py again") from None
        try:
            return cls(decoder)
        except NotADecoder as err:
            raise NotADecoder(f"{path} is not a colorizer decoder: {err}; give --models the "
                              "folder train.py wrote") from None

    @staticmethod
    def _read_layout(decoder):
        """(backbone name, latent size, side S) of a decoder, or NotADecoder saying what is off."""
        names = [tensor.name for tensor in decoder.inputs]
        shapes = [tuple(tensor.shape[1:]) for tensor in decoder.inputs]
        if names[:2] != ["z", "gray"] or len(decoder.outputs) != 1:
            raise NotADecoder(f"it takes inputs named ({', '.join(names)}) and gives "
                              f"{len(decoder.outputs)} output(s), where a decoder takes z, then "
                              "the gray, then a backbone's maps, and gives the chroma")
        (latent_dim, *more), gray = shapes[0], shapes[1]
        side = gray[0]
        if more or not latent_dim or gray != (side, side, 1) or not side or side % SIZE_MULTIPLE:
            raise NotADecoder(f"its inputs z and gray are {shapes[0]} and {gray}, where a decoder "
                              f"takes z (n,) and a square gray (S, S, 1), S a multiple of "
                              f"{SIZE_MULTIPLE}")
        maps = list(zip(names[2:], shapes[2:]))
        backbone = next((key for key in BACKBONES
                         if list(map_shapes(key, side).values()) == maps), None)
        if backbone is None:
            raise NotADecoder(f"its inputs after z and the gray "
                              f"({', '.join(f'{n} {s}' for n, s in maps)}) are no backbone's "
                              f"maps at {side} px")
        chroma = tuple(decoder.outputs[0].shape[1:])
        if chroma != (side, side, 2):
            raise NotADecoder(f"its output is {chroma}, where a decoder gives chroma "
                              f"({side}, {side}, 2)")
        return backbone, latent_dim, side

    def prior_z(self, n_photos, samples, seed=None, temperature=TEMPERATURE):
        """prior_z for this decoder's z and its regions."""
        return prior_z(n_photos, samples, self.latent_dim, seed, temperature, self.z_regions)

    def chroma_batches(self, grays, z, batch_size=DECODER_BATCH):
        """The decoder's chroma for len(z) // len(grays) colorizations of each gray, photo after
        photo: uint8 grays (P, S, S) and z (P·N, latent) -> yields (index of the batch's first
        photo, float32 chroma (photos in the batch · N, S, S, 2)), the colorizations of whole
        photos, as many photos as fill batch_size (at least one), decoded batch_size at a time."""
        import tensorflow as tf

        samples = len(z) // len(grays)
        photos_per_batch = max(1, batch_size // samples)
        backbone, decoder = backbone_model(self.backbone_name, self.size), self.decoder
        gray_spec = tf.TensorSpec((None, self.size, self.size, 1), tf.float32)
        condition_spec = {"gray": gray_spec, **{
            name: tf.TensorSpec((None, *shape), tf.float32)
            for name, shape in map_shapes(self.backbone_name, self.size).values()}}

        # The backbone reads each photo once; each colorization gathers its photo's maps.
        @tf.function(input_signature=[gray_spec])
        def see(gray_batch):
            return {"gray": gray_batch,
                    **(backbone(gray_batch, training=False) if backbone else {})}

        # One traced graph, not predict: predict would spread the work over a tf.distribute
        # cluster, which a callback running on the chief alone must not do. The graph runs the
        # decoder faster than layer-by-layer eager calls (docs/speed.md), with the same numbers.
        @tf.function(input_signature=[tf.TensorSpec((None, self.latent_dim), tf.float32),
                                      condition_spec, tf.TensorSpec((None,), tf.int32)])
        def decode(z_batch, condition, photo_of_row):
            rows = {name: tf.gather(x, photo_of_row) for name, x in condition.items()}
            return decoder({"z": z_batch, **rows}, training=False)

        for first in range(0, len(grays), photos_per_batch):
            gray_batch = grays[first:first + photos_per_batch, ..., None].astype(np.float32)
            condition = see(gray_batch)
            photo_of_row = np.repeat(np.arange(len(gray_batch), dtype=np.int32), samples)
            z_batch = z[first * samples:(first + len(gray_batch)) * samples]
            yield first, np.concatenate([
                decode(z_batch[row:row + batch_size], condition,
                       photo_of_row[row:row + batch_size]).numpy()
                for row in range(0, len(z_batch), batch_size)])

    def photo_chromas(self, tilings, z, batch_size=DECODER_BATCH):
        """chroma_batches over the tiles of photos of any proportions (colorizer.tiling.Tiling,
        one per photo; z (P·N, latent), each photo's N for all its tiles) -> yields (photo
        index, float32 chroma (N, h, w, 2) at the model's scale, the tiles blended), photo after
        photo, each as soon as its last tile is decoded."""
        samples = len(z) // len(tilings)
        owner = np.array([i for i, tiling in enumerate(tilings) for _ in tiling.tiles])
        tiles = np.stack([tile for tiling in tilings for tile in tiling.tiles])
        z_tiles = z.reshape(len(tilings), samples, -1)[owner].reshape(-1, z.shape[-1])
        done = {}
        for first, chroma in self.chroma_batches(tiles, z_tiles, batch_size):
            for tile in range(len(chroma) // samples):
                photo = owner[first + tile]
                done.setdefault(photo, []).append(chroma[tile * samples:(tile + 1) * samples])
                if len(done[photo]) == len(tilings[photo].tiles):
                    yield photo, tilings[photo].blend(done.pop(photo))

    def predict_chroma(self, grays, z, batch_size=DECODER_BATCH):
        """chroma_batches, all at once: float32 chroma (P·N, S, S, 2)."""
        return np.concatenate([chroma for _, chroma in self.chroma_batches(grays, z, batch_size)])

    def colorize(self, grays, z):
        """Colorizations at the model's size: predict_chroma merged onto each gray, uint8 RGB."""
        return merge(np.repeat(grays, len(z) // len(grays), axis=0), self.predict_chroma(grays, z))
