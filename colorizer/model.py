"""The conditional VAE: main_vae_encoder, main_vae_decoder and main_vae, the whole model.

Contract of every model here: gray comes in as float 0–255, shape (S, S, 1); color goes in and
out as the two chroma channels of colorizer.color, shape (S, S, 2). S is a multiple of 16. The
decoder's inputs are named: z, the gray, and the maps of its backbone under the names the
backbone's registry gives them (colorizer.backbone); its condition is a dict of all but z.
colorizer.inference.Colorizer is what reads a trained decoder's inputs.
Trained, the encoder and decoder are saved with built-in layers only (with_builtin_layers), so
they load anywhere with plain keras.saving.load_model; main_vae and the checkpoint need this
module imported first (their classes register here).
"""

import dataclasses

import keras
import tensorflow as tf
from keras import layers, ops

from .backbone import BACKBONES, map_shapes
from .color import chroma_bin, rebalancing_weights
from .config import DOWNSAMPLINGS, REGIONS_DOWNSAMPLINGS, Z_REGIONS_LAYER, ModelConfig
from .distribute import MultiWorkerFixes


def _conv(x, filters, strides=1, z=None, name=None):
    """3×3 convolution, batch normalization, ReLU: normalization lets color emerge in minutes.

    With z, a learned projection of z is added at every pixel before the normalization: what a
    convolution over z tiled across the map computes away from the borders, at a fraction of
    the cost, since a tiled map is the same at every pixel.
    """
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=name)(x)
    if z is not None:
        z_shift = layers.Dense(filters, use_bias=False, name=f"{name}_z")(z)
        if len(z.shape) == 2:
            z_shift = layers.Reshape((1, 1, filters), name=f"{name}_z_map")(z_shift)
        x = layers.Add(name=f"{name}_plus_z")([x, z_shift])
    x = FusedBatchNormalization(name=f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


@keras.saving.register_keras_serializable(package="colorizer")
class FusedBatchNormalization(layers.BatchNormalization):
    """BatchNormalization whose training step runs TensorFlow's fused kernel: the same function
    and moving averages in two passes over the map instead of Keras 3's dozen (docs/speed.md)."""

    def call(self, inputs, training=None, mask=None):
        # The fused kernel normalizes the last axis of a 4-D map, as every layer here does.
        if (not (training and self.trainable) or mask is not None or len(inputs.shape) != 4
                or self.axis not in (-1, 3)):
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)[:3]
        # The kernel hands back the unbiased variance; Keras' moving average takes the biased one.
        n = ops.cast(ops.size(inputs) // ops.shape(inputs)[-1], variance.dtype)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum
                                    + variance * ((n - 1) / n) * (1 - self.momentum))
        return outputs


def with_builtin_layers(model):
    """A copy of a functional model, same weights, with Keras' own BatchNormalization in place of
    FusedBatchNormalization: the encoder and decoder files then load without this package."""
    def rebuild(layer):
        kind = (layers.BatchNormalization if isinstance(layer, FusedBatchNormalization)
                else type(layer))
        return kind.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=rebuild)
    copy.set_weights(model.get_weights())
    return copy


# -- the two networks ---------------------------------------------------------------------------
def build_encoder(config):
    """Recognition network q(z | gray, color), or q(z | gray) as in the original project: its
    deepest map, averaged over the photo (or over each of z's regions), proposes z."""
    gray = keras.Input((config.size, config.size, 1), name="gray")
    inputs = [gray]
    x = layers.Rescaling(1 / 127.5, offset=-1, name="gray_scaled")(gray)
    if config.encoder_input == "color":
        chroma = keras.Input((config.size, config.size, 2), name="chroma")
        inputs.append(chroma)
        x = layers.Concatenate(name="gray_and_chroma")([x, chroma])
    for level in range(DOWNSAMPLINGS):
        x = _conv(x, config.width * 2**level, strides=2, name=f"down{level + 1}")
    if config.z_regions > 1:
        regions = keras.Input((config.size >> REGIONS_DOWNSAMPLINGS,) * 2 + (config.z_regions,),
                              name="regions")
        inputs.append(regions)
        x = _region_means(x, regions)
    else:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(config.width * 8, activation="relu", name="hidden")(x)
    region_dim = config.latent_dim // config.z_regions  # the same head reads every region
    z_mean = layers.Dense(region_dim, name="z_mean_of_region")(x)
    z_log_var = layers.Dense(region_dim, name="z_log_var_of_region")(x)
    z_mean = layers.Reshape((config.latent_dim,), name="z_mean")(z_mean)
    z_log_var = layers.Reshape((config.latent_dim,), name="z_log_var")(z_log_var)
    return keras.Model(inputs, [z_mean, z_log_var], name="main_vae_encoder")


def _region_means(x, regions):
    """x (B, h, w, C) and soft regions at twice its size (B, 2h, 2w, K) -> each region's features,
    (B, K, C): their sum under the region's weights, normalized per region (which also takes out
    how large the region is)."""
    h, w, channels = x.shape[1:]
    regions = layers.AveragePooling2D(2, name="regions_pool")(regions)
    regions = layers.Reshape((h * w, regions.shape[-1]), name="regions_flat")(regions)
    x = layers.Reshape((h * w, channels), name="features_flat")(x)
    x = layers.Dot(axes=1, name="region_sums")([regions, x])
    return layers.LayerNormalization(name="region_features")(x)


def _z_per_layer(config, z, maps):
    """{downsamplings: z as the z layer at that size reads it}: the vector itself, added alike
    at every pixel, or with z_regions > 1 a map: soft regions read from the backbone's map at
    REGIONS_DOWNSAMPLINGS, and at each pixel the regions' parts of z mixed by their weights
    there, resized to each layer. The encoder reads the same regions (CVAE.regions_view)."""
    sizes = range(1, DOWNSAMPLINGS + 1)
    count = config.z_regions
    if count == 1:
        return dict.fromkeys(sizes, z)
    region_map = maps[REGIONS_DOWNSAMPLINGS]
    side = region_map.shape[1]
    regions = layers.Conv2D(count, 1, name="z_regions_logits")(region_map)
    regions = layers.Softmax(name=Z_REGIONS_LAYER)(regions)  # CVAE.regions_view reads them
    z_of_region = layers.Reshape((count, config.latent_dim // count), name="z_of_region")(z)
    flat = layers.Reshape((side * side, count), name="z_regions_flat")(regions)
    z_map = layers.Dot(axes=(2, 1), name="z_at_pixels")([flat, z_of_region])
    z_map = layers.Reshape((side, side, z_of_region.shape[-1]), name="z_map")(z_map)
    return {downsamplings: z_map if downsamplings == REGIONS_DOWNSAMPLINGS else layers.Resizing(
                *(config.size >> downsamplings,) * 2, name=f"z_map_{downsamplings}")(z_map)
            for downsamplings in sizes}


def regions_map_name(config):
    """The name of the backbone's map that z's regions are read from."""
    return BACKBONES[config.backbone].features[REGIONS_DOWNSAMPLINGS][0]


def build_decoder(config):
    """p(color | z, gray): a U-Net over the full-size gray, z added at every pixel of the
    bottleneck (7 px at 112) and of each upsampling stage (14, 28, 56 px), through soft regions
    (config.z_regions) so that a draw can change one region's color apart. Each map of the
    backbone joins the gray's path where its size matches (28, 14 and 7 px at 112), projected
    to that stage's width: what the ImageNet-trained network knows of the photo's things.

    Chroma is predicted at half size and upsampled bilinearly: color varies slowly, so the
    full-size work goes into reading the gray, not into painting it.
    """
    width = config.width
    z = keras.Input((config.latent_dim,), name="z")
    gray = keras.Input((config.size, config.size, 1), name="gray")
    maps = {downsamplings: keras.Input(shape, name=name) for downsamplings, (name, shape)
            in map_shapes(config.backbone, config.size).items()}
    x = layers.Rescaling(1 / 127.5, offset=-1, name="gray_scaled")(gray)
    x = _conv(x, width // 2, name="gray_features")
    skips = []
    for level in range(DOWNSAMPLINGS):
        x = _conv(x, width * 2**level, strides=2, name=f"down{level + 1}")
        x = _conv(x, width * 2**level, name=f"down{level + 1}_conv")
        if level + 1 in maps:
            seen = layers.Conv2D(width * 2**level, 1, use_bias=False,
                                 name=f"down{level + 1}_seen")(maps[level + 1])
            seen = FusedBatchNormalization(name=f"down{level + 1}_seen_norm")(seen)
            seen = layers.ReLU(name=f"down{level + 1}_seen_relu")(seen)
            x = layers.Concatenate(name=f"down{level + 1}_with_seen")([x, seen])
        skips.append(x)
    z_at = _z_per_layer(config, z, maps)
    x = _conv(x, width * 8, z=z_at[DOWNSAMPLINGS], name="bottleneck")
    # What the whole photo shows (a beach, a forest) decides what each region's color is likely
    # to be: the bottleneck's mean over the image is added back at every pixel (Iizuka et al. 2016).
    context = layers.GlobalAveragePooling2D(name="context_pool")(x)
    context = layers.Dense(width * 8, activation="relu", name="context")(context)
    context = layers.Reshape((1, 1, width * 8), name="context_map")(context)
    x = layers.Add(name="bottleneck_plus_context")([x, context])
    for level in reversed(range(DOWNSAMPLINGS - 1)):
        x = layers.UpSampling2D(name=f"up{level + 1}")(x)
        x = layers.Concatenate(name=f"up{level + 1}_merge")([x, skips[level]])
        x = _conv(x, width * 2**level, z=z_at[level + 1], name=f"up{level + 1}_conv")
    chroma = layers.Conv2D(2, 3, padding="same", activation="tanh", name="chroma_half")(x)
    chroma = layers.UpSampling2D(interpolation="bilinear", name="chroma")(chroma)
    return keras.Model([z, gray, *maps.values()], chroma, name="main_vae_decoder")


# -- the whole model ----------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="colorizer")
class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding one colorization."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True  # no weights to create

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="colorizer")
class CVAE(MultiWorkerFixes, keras.Model):
    """Encoder and decoder trained together on the evidence lower bound.

    Reconstruction: the squared chroma error summed over pixels, each pixel weighted by how rare
    its true color is (chroma_weights, indexed by colorizer.color.chroma_bin; None weighs all
    alike). KL to N(0, I) summed over the latent; both averaged over the batch, the KL weighted
    by config.kl_weight.
    Each photo is decoded from z = 0 instead of the encoder's z with probability config.zero_z
    (Sohn et al. 2015's hybrid objective): the decoder must then find the colors in the gray
    itself, so z = 0 gives this photo's likely colors instead of an average tint.
    """

    def __init__(self, encoder, decoder, config, chroma_weights=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.config = config if isinstance(config, ModelConfig) else ModelConfig.from_saved(config)
        self.chroma_weights = None if chroma_weights is None else [float(w) for w in chroma_weights]
        self.seed = seed
        # The encoder reads the decoder's regions (z_regions > 1): a view from the map they
        # come from to them, so that a part of z means one region on both sides.
        self.regions_view = None
        if self.config.z_regions > 1:
            self.regions_map = regions_map_name(self.config)
            self.regions_view = keras.Model(decoder.get_layer(self.regions_map).output,
                                            decoder.get_layer(Z_REGIONS_LAYER).output,
                                            name="regions_view")
        self.sampling = Sampling(seed=seed, name="sampling")
        self.zero_z_seed = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.trackers = [keras.metrics.Mean(name=name)
                         for name in ("loss", "reconstruction_loss", "kl_loss")]
        # Encoder and decoder arrive built and Sampling has no weights, so the whole model is
        # built now; under tf.distribute Keras cannot build it from a first batch.
        self.built = True

    @property
    def metrics(self):
        return self.trackers

    def encoder_inputs(self, condition, chroma):
        """What the encoder reads: the gray, the true chroma unless it sees the gray only, and
        the regions z comes through."""
        inputs = [condition["gray"]] + ([chroma] if self.config.encoder_input == "color" else [])
        if self.regions_view is not None:
            inputs.append(self.regions_view(condition[self.regions_map]))
        return inputs

    def call(self, inputs, training=False):
        """inputs: (the decoder's condition: {"gray": gray, map name: map}, chroma) ->
        (the predicted chroma, z_mean, z_log_var)."""
        condition, chroma = inputs
        z_mean, z_log_var = self.encoder(self.encoder_inputs(condition, chroma))
        z = self.sampling([z_mean, z_log_var])
        if training and self.config.zero_z:
            draw = keras.random.uniform((ops.shape(z)[0], 1), seed=self.zero_z_seed)
            z = z * ops.cast(draw >= self.config.zero_z, z.dtype)
        return self.decoder({"z": z, **condition}, training=training), z_mean, z_log_var

    def _pixel_weights(self, chroma):
        """Each pixel's loss weight, (B, H, W, 1), from its true chroma's bin."""
        bins = chroma_bin(chroma, ops)
        return ops.take(ops.convert_to_tensor(self.chroma_weights), bins)[..., None]

    def _elbo_terms(self, data, training):
        """(total loss, reconstruction, KL) of a batch: (condition, chroma)."""
        condition, chroma = data
        prediction, z_mean, z_log_var = self((condition, chroma), training=training)
        error = ops.square(chroma - prediction)
        if self.chroma_weights is not None:
            error = error * self._pixel_weights(chroma)
        reconstruction_loss = ops.mean(ops.sum(error, axis=(1, 2, 3)))
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl, axis=1))
        return reconstruction_loss + self.config.kl_weight * kl_loss, reconstruction_loss, kl_loss

    def _track(self, losses):
        for tracker, value in zip(self.trackers, losses):
            tracker.update_state(value)
        return self.metric_logs()

    def train_step(self, data):
        # Under tf.distribute the optimizer sums gradients over replicas: average them instead.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            losses = self._elbo_terms(data, training=True)
            replica_loss = losses[0] / replicas
        grads = tape.gradient(replica_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._track(losses)

    def test_step(self, data):
        return self._track(self._elbo_terms(data, training=False))

    def get_config(self):
        return {**super().get_config(),
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "config": dataclasses.asdict(self.config),
                "chroma_weights": self.chroma_weights, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


def build_cvae(config, seed=None, chroma=None):
    """The CVAE that config describes. chroma: a sample of the training colors (float chroma,
    any shape ending in 2), for the rebalancing weights, needed where config asks for them
    (needs_color_statistics)."""
    chroma_weights = (rebalancing_weights(chroma, config.rebalance_mix)
                      if needs_color_statistics(config) else None)
    return CVAE(build_encoder(config), build_decoder(config), config,
                chroma_weights=chroma_weights, seed=seed, name="main_vae")


def needs_color_statistics(config):
    return config.rebalance_mix < 1
