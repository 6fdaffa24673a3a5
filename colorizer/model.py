"""The conditional VAE: main_vae_encoder, main_vae_decoder and main_vae, the whole model.

Contract of every model here: gray comes in as float 0–255, shape (S, S, 1); color goes in and
out as the two chroma channels of colorizer.color, shape (S, S, 2). S is a multiple of 16.
Trained, the encoder and decoder are saved with built-in layers only (with_builtin_layers), so
they load anywhere with plain keras.saving.load_model; main_vae and the checkpoint need this
module imported first (their classes register here).
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from .color import CHROMA_BINS, chroma_bin_centers, merge
from .config import ANNEALED_MEAN_T, CHROMA_LOSSES, DOWNSAMPLINGS, ENCODER_INPUTS, TEMPERATURE
from .distribute import is_multiworker

CLASS_LOGITS = "chroma_logits"  # the layer a class decoder is trained on
# The deepest features of the gray alone (before z comes in): what a label head reads.
LABEL_FEATURES = f"down{DOWNSAMPLINGS}_conv_relu"
REGIONS = "z_regions"  # the decoder's region masks, which the encoder also reads


def _conv(x, filters, strides=1, z=None, z_grid=1, z_gain=False, regions=None, name=None):
    """3×3 convolution, batch normalization, ReLU: normalization lets color emerge in minutes.

    With z, a learned projection of z is added at every pixel before the normalization: what a
    convolution over z tiled across the map computes away from the borders, at a fraction of
    the cost, since a tiled map is the same at every pixel. With z_grid G > 1 the projection is
    a G × G map, spread bilinearly over the whole map: z can then color areas apart. With
    regions, soft masks (H', W', K) of K regions of the photo, there are K projections, mixed at
    each pixel as the masks say: z can then color what is there apart, wherever it lies. With
    z_gain, z also scales each feature map (FiLM, Perez et al. 2018), so that a draw can change
    most where a feature is strong (docs/quality.md measures each).
    """
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=name)(x)
    if z is not None:
        z_shift = _z_map(z, x.shape[1:3], filters, z_grid, regions, name)
        if z_gain:  # x · (1 + gain(z)): z = 0 leaves x as it is
            gain = layers.Dense(filters, use_bias=False, name=f"{name}_z_gain")(z)
            gain = layers.Reshape((1, 1, filters), name=f"{name}_z_gain_map")(gain)
            gained = layers.Multiply(name=f"{name}_times_z_gain")([x, gain])
            x = layers.Add(name=f"{name}_gained")([x, gained])
        x = layers.Add(name=f"{name}_plus_z")([x, z_shift])
    x = FusedBatchNormalization(name=f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _z_map(z, size, filters, z_grid, regions, name):
    """What z adds to a layer's map of size (H, W) with filters channels: one projection of z at
    every pixel, a G × G map of them spread bilinearly, or per region, K of them mixed."""
    height, width = size
    if regions is None:
        z_shift = layers.Dense(filters * z_grid**2, use_bias=False, name=f"{name}_z")(z)
        z_shift = layers.Reshape((z_grid, z_grid, filters), name=f"{name}_z_map")(z_shift)
        if z_grid == 1:
            return z_shift
        return layers.Resizing(height, width, interpolation="bilinear",
                               name=f"{name}_z_spread")(z_shift)
    count = regions.shape[-1]
    if regions.shape[1:3] != (height, width):  # a bilinear mix of masks is still a mix
        regions = layers.Resizing(height, width, name=f"{name}_regions")(regions)
    regions = layers.Reshape((height * width, count), name=f"{name}_regions_flat")(regions)
    z_shift = layers.Dense(filters * count, use_bias=False, name=f"{name}_z")(z)
    z_shift = layers.Reshape((count, filters), name=f"{name}_z_per_region")(z_shift)
    z_shift = layers.Dot(axes=(2, 1), name=f"{name}_z_mixed")([regions, z_shift])
    return layers.Reshape((height, width, filters), name=f"{name}_z_map")(z_shift)


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


def build_encoder(size, latent_dim, width, encoder_input, z_grid=1, z_regions=1):
    """Recognition network q(z | gray, color), or q(z | gray) as in the original project.

    It reads its deepest map averaged over the photo, over a G × G grid (z_grid G > 1), or under
    each of the K region masks the decoder finds in the gray (z_regions K > 1: an input "regions"
    of the deepest map's size), so that z can tell where each color is, as the decoder paints it.
    """
    gray = keras.Input((size, size, 1), name="gray")
    inputs = [gray]
    x = layers.Rescaling(1 / 127.5, offset=-1, name="gray_scaled")(gray)
    if encoder_input == "color":
        chroma = keras.Input((size, size, 2), name="chroma")
        inputs.append(chroma)
        x = layers.Concatenate(name="gray_and_chroma")([x, chroma])
    for level in range(DOWNSAMPLINGS):
        x = _conv(x, width * 2**level, strides=2, name=f"down{level + 1}")
    if z_regions > 1:  # each region's features: their sum under its mask, over the map's size
        pixels, channels = x.shape[1] * x.shape[2], x.shape[3]
        regions = keras.Input((*x.shape[1:3], z_regions), name="regions")
        inputs.append(regions)
        flat = layers.Reshape((pixels, z_regions), name="regions_flat")(regions)
        x = layers.Reshape((pixels, channels), name="features_flat")(x)
        x = layers.Dot(axes=(1, 1), name="per_region")([flat, x])
        x = layers.Rescaling(1 / pixels, name="pool")(x)
        x = layers.Flatten(name="pool_regions")(x)
    elif z_grid > 1:
        x = layers.Resizing(z_grid, z_grid, antialias=True, name="pool")(x)  # an area mean
        x = layers.Flatten(name="pool_grid")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(width * 8, activation="relu", name="hidden")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="main_vae_encoder")


def build_decoder(size, latent_dim, width, chroma_loss="squared", class_prior=None, z_grid=1,
                  z_gain=False, z_regions=1):
    """p(color | z, gray): a U-Net over the full-size gray with z added in at every scale, the
    same at every pixel, through a G × G map (z_grid G > 1), or per region (z_regions K > 1: K
    soft masks, REGIONS, read once from the deepest gray features, which the encoder pools
    under too); with z_gain z also scales the features (_conv).

    Chroma is predicted at half size and upsampled bilinearly: color varies slowly, so the
    full-size work goes into reading the gray, not into painting it. With chroma_loss "classes"
    the U-Net gives a probability per chroma class and paints their annealed mean, inside the
    model, so the decoder's inputs and output are the same for both losses. Its class logits
    start at the log of class_prior (colorizer.color.chroma_prior of the training colors; None:
    all alike): at a learning rate of 1e-3 a bias would take thousands of steps to get there.
    """
    z = keras.Input((latent_dim,), name="z")
    gray = keras.Input((size, size, 1), name="gray")
    x = layers.Rescaling(1 / 127.5, offset=-1, name="gray_scaled")(gray)
    x = _conv(x, width // 2, name="gray_features")
    skips = []
    for level in range(DOWNSAMPLINGS):
        x = _conv(x, width * 2**level, strides=2, name=f"down{level + 1}")
        x = _conv(x, width * 2**level, name=f"down{level + 1}_conv")
        skips.append(x)
    regions = (layers.Conv2D(z_regions, 1, activation="softmax", name=REGIONS)(x)
               if z_regions > 1 else None)
    z_options = {"z_grid": z_grid, "z_gain": z_gain, "regions": regions}
    x = _conv(x, width * 8, z=z, **z_options, name="bottleneck")
    # What the whole photo shows (a beach, a forest) decides what each region's color is likely
    # to be: the bottleneck's mean over the image is added back at every pixel (Iizuka et al. 2016).
    context = layers.GlobalAveragePooling2D(name="context_pool")(x)
    context = layers.Dense(width * 8, activation="relu", name="context")(context)
    context = layers.Reshape((1, 1, width * 8), name="context_map")(context)
    x = layers.Add(name="bottleneck_plus_context")([x, context])
    for level in reversed(range(DOWNSAMPLINGS - 1)):
        x = layers.UpSampling2D(name=f"up{level + 1}")(x)
        x = layers.Concatenate(name=f"up{level + 1}_merge")([x, skips[level]])
        x = _conv(x, width * 2**level, z=z, **z_options, name=f"up{level + 1}_conv")
    if chroma_loss == "squared":
        chroma_half = layers.Conv2D(2, 3, padding="same", activation="tanh", name="chroma_half")(x)
    else:
        logits = layers.Conv2D(CHROMA_BINS**2, 1, name=CLASS_LOGITS)(x)
        x = layers.Rescaling(1 / ANNEALED_MEAN_T, name="chroma_annealed")(logits)
        x = layers.Softmax(name="chroma_probabilities")(x)
        # The mean of the class centers under those probabilities: a fixed 1×1 convolution.
        chroma_half = layers.Conv2D(2, 1, use_bias=False, trainable=False, name="chroma_half")(x)
    chroma = layers.UpSampling2D(interpolation="bilinear", name="chroma")(chroma_half)
    decoder = keras.Model([z, gray], chroma, name="main_vae_decoder")
    if chroma_loss == "classes":
        decoder.get_layer("chroma_half").set_weights([chroma_bin_centers()[None, None]])
        if class_prior is not None:
            decoder.get_layer(CLASS_LOGITS).bias.assign(np.log(np.maximum(class_prior, 1e-6)))
    return decoder


def class_targets(chroma):
    """float chroma (B, H, W, 2) -> each pixel's share of the CHROMA_BINS² classes (B, H, W, K):
    on each axis split between the two nearest class centers, so the shares' mean is the chroma."""
    position = ops.clip((chroma + 1) * (CHROMA_BINS / 2) - 0.5, 0, CHROMA_BINS - 1)
    low = ops.floor(position)
    high_share = (position - low)[..., None]
    low = ops.cast(low, "int32")
    high = ops.minimum(low + 1, CHROMA_BINS - 1)
    per_axis = (ops.one_hot(low, CHROMA_BINS) * (1 - high_share)
                + ops.one_hot(high, CHROMA_BINS) * high_share)  # (B, H, W, 2, CHROMA_BINS)
    joint = per_axis[..., 0, :, None] * per_axis[..., 1, None, :]
    return ops.reshape(joint, (-1, *chroma.shape[1:3], CHROMA_BINS**2))


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
class CVAE(keras.Model):
    """Encoder and decoder trained together on the evidence lower bound.

    Reconstruction: the squared chroma error summed over pixels and channels or, for a class
    decoder, the cross-entropy of its class logits against class_targets of the half-size true
    chroma, summed over pixels; each pixel weighted by how rare its true color is
    (chroma_weights, indexed by colorizer.color.chroma_bin; None weighs all alike). KL to N(0, I)
    summed over the latent; both averaged over the batch, the KL weighted by kl_weight. A share
    zero_z of each batch is decoded from z = 0 instead of the encoder's z (Sohn et al. 2015's
    hybrid objective): the decoder must then find the colors in the gray itself, so z = 0 gives
    this photo's likely colors instead of an average tint.

    With label_names, a linear head on the decoder's deepest gray features (LABEL_FEATURES,
    averaged over the image) learns each photo's class too, its cross-entropy weighted by
    label_weight (Iizuka et al. 2016): features that tell a forest from a beach are what the
    colors of each region depend on. The head lives here, not in the decoder, which stays
    (z, gray) -> chroma. Photos labelled -1 add nothing to it.
    """

    def __init__(self, encoder, decoder, kl_weight, zero_z=0.0, chroma_weights=None, seed=None,
                 label_names=None, label_weight=0.0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.kl_weight = kl_weight
        self.zero_z = zero_z
        self.chroma_weights = None if chroma_weights is None else [float(w) for w in chroma_weights]
        self.seed = seed
        # A class decoder learns from its logits: a view of the same layers up to them.
        names = [layer.name for layer in decoder.layers]
        self.class_logits = (keras.Model(decoder.inputs, decoder.get_layer(CLASS_LOGITS).output,
                                         name="class_logits") if CLASS_LOGITS in names else None)
        # The encoder pools under the decoder's region masks, read from the gray alone.
        self.regions = (keras.Model(decoder.inputs[1], decoder.get_layer(REGIONS).output,
                                    name="regions") if REGIONS in names else None)
        self.label_names = list(label_names) if label_names else None
        self.label_weight = label_weight
        if self.label_names:
            chroma_out = (decoder if self.class_logits is None else self.class_logits).outputs[0]
            features = decoder.get_layer(LABEL_FEATURES).output
            self.label_view = keras.Model(decoder.inputs, [chroma_out, features], name="label_view")
            self.label_head = layers.Dense(len(self.label_names), name="label_logits")
            self.label_head.build((None, features.shape[-1]))
            self.label_loss_tracker = keras.metrics.Mean(name="label_loss")
        self.sampling = Sampling(seed=seed, name="sampling")
        self.zero_z_seed = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        # Encoder and decoder arrive built and Sampling has no weights, so the whole model is
        # built now; under tf.distribute Keras cannot build it from a first batch.
        self.built = True

    @property
    def encoder_input(self):
        return "color" if "chroma" in [t.name for t in self.encoder.inputs] else "gray"

    @property
    def z_grid(self):
        return (self.decoder.get_layer("bottleneck_z_map").output.shape[1]
                if "bottleneck_z_spread" in [layer.name for layer in self.decoder.layers] else 1)

    @property
    def z_regions(self):
        return 1 if self.regions is None else self.regions.outputs[0].shape[-1]

    @property
    def z_gain(self):
        return "bottleneck_z_gain" in [layer.name for layer in self.decoder.layers]

    @property
    def chroma_loss(self):
        return "squared" if self.class_logits is None else "classes"

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker,
                *([self.label_loss_tracker] if self.label_names else [])]

    def encoder_inputs(self, gray, chroma, training=False):
        """What the encoder reads: the gray, the true chroma unless it sees the gray only and,
        with z_regions, the decoder's region masks of the gray."""
        inputs = [gray, chroma] if self.encoder_input == "color" else [gray]
        if self.regions is not None:
            inputs.append(self.regions(gray, training=training))
        return inputs

    def call(self, inputs, training=False):
        """(what the loss reads: chroma or class logits, z_mean, z_log_var[, label logits])."""
        gray, chroma = inputs
        z_mean, z_log_var = self.encoder(self.encoder_inputs(gray, chroma, training))
        z = self.sampling([z_mean, z_log_var])
        if training and self.zero_z:
            draw = keras.random.uniform((ops.shape(z)[0], 1), seed=self.zero_z_seed)
            z = z * ops.cast(draw >= self.zero_z, z.dtype)
        if self.label_names:
            prediction, features = self.label_view([z, gray], training=training)
            return prediction, z_mean, z_log_var, self.label_head(ops.mean(features, axis=(1, 2)))
        decoder = self.decoder if self.class_logits is None else self.class_logits
        return decoder([z, gray], training=training), z_mean, z_log_var

    def _pixel_weights(self, chroma):
        """Each pixel's loss weight, (B, S, S, 1), from its true chroma's bin."""
        cells = ops.clip(ops.cast((chroma + 1) * (CHROMA_BINS / 2), "int32"), 0, CHROMA_BINS - 1)
        bins = cells[..., 0] * CHROMA_BINS + cells[..., 1]
        return ops.take(ops.convert_to_tensor(self.chroma_weights), bins)[..., None]

    def _elbo_terms(self, data, training):
        """(total loss, reconstruction, KL[, label cross-entropy]) of a batch."""
        gray, chroma, *labels = data
        prediction, z_mean, z_log_var, *label_logits = self((gray, chroma), training=training)
        if self.class_logits is None:
            error = ops.square(chroma - prediction)
        else:
            chroma = ops.average_pool(chroma, 2, 2)  # the classes are predicted at half size
            error = -ops.sum(class_targets(chroma) * ops.log_softmax(prediction), -1, keepdims=True)
        if self.chroma_weights is not None:
            error = error * self._pixel_weights(chroma)
        reconstruction_loss = ops.mean(ops.sum(error, axis=(1, 2, 3)))
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl, axis=1))
        total = reconstruction_loss + self.kl_weight * kl_loss
        if not self.label_names:
            return total, reconstruction_loss, kl_loss
        known = ops.cast(labels[0] >= 0, "float32")
        cross_entropy = keras.losses.sparse_categorical_crossentropy(
            ops.maximum(labels[0], 0), label_logits[0], from_logits=True)
        label_loss = ops.sum(cross_entropy * known) / ops.maximum(ops.sum(known), 1.0)
        return total + self.label_weight * label_loss, reconstruction_loss, kl_loss, label_loss

    def _track(self, total, reconstruction, kl, label=None):
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        if label is not None:
            self.label_loss_tracker.update_state(label)
        logs = {m.name: m.result() for m in self.metrics}
        if is_multiworker(self.distribute_strategy):
            # Keras 3 averages logs across workers along axis 0, which a scalar lacks
            # (tensorflow/tensorflow#72388): give each a length-1 axis to average over.
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 first averages a data batch over the replicas, which fails under
        # MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388). The model is built in
        # __init__ and needs no batch: this builds what is left, the optimizer.
        with self.distribute_strategy.scope():
            self._symbolic_build()

    def train_step(self, data):
        import tensorflow as tf  # the custom step is written for the TensorFlow backend

        # Under tf.distribute the optimizer sums gradients over replicas: average them instead.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            losses = self._elbo_terms(data, training=True)
            replica_loss = losses[0] / replicas
        grads = tape.gradient(replica_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._track(*losses)

    def test_step(self, data):
        return self._track(*self._elbo_terms(data, training=False))

    def get_config(self):
        return {**super().get_config(),
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "kl_weight": self.kl_weight, "zero_z": self.zero_z,
                "chroma_weights": self.chroma_weights, "seed": self.seed,
                "label_names": self.label_names, "label_weight": self.label_weight}

    @classmethod
    def from_config(cls, config):
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


def prior_z(n_photos, samples, latent_dim, seed=None, temperature=TEMPERATURE):
    """z for `samples` colorizations of each of n_photos, photo after photo, float32.

    The first of each photo is the prior's center, z = 0: the model's most typical colorization,
    and the safest single guess. The others are drawn from N(0, temperature² I) and differ from it.
    """
    z = temperature * np.random.default_rng(seed).standard_normal((n_photos, samples, latent_dim))
    z[:, 0] = 0
    return z.reshape(n_photos * samples, latent_dim).astype(np.float32)


def chroma_batches(decoder, grays, z, batch_size=256):  # batch sizes compared: docs/speed.md
    """The decoder's chroma for len(z) // len(grays) colorizations of each gray, photo after
    photo, a batch of whole photos at a time: uint8 grays (P, S, S) and z (P·N, latent) -> yields
    (index of the batch's first photo, float32 chroma (photos in the batch · N, S, S, 2))."""
    samples = len(z) // len(grays)
    photos_per_batch = max(1, batch_size // samples)
    # One traced graph, not predict: predict would spread the work over a tf.distribute cluster,
    # which a callback running on the chief alone must not do. The graph runs the decoder faster
    # than layer-by-layer eager calls (docs/speed.md), with the same numbers.
    decode = tf.function(lambda z_batch, gray_batch: decoder([z_batch, gray_batch], training=False),
                         input_signature=[tf.TensorSpec((None, z.shape[-1]), tf.float32),
                                          tf.TensorSpec((None, *grays.shape[1:], 1), tf.float32)])
    for first in range(0, len(grays), photos_per_batch):
        batch = slice(first, first + photos_per_batch)
        gray_in = np.repeat(grays[batch], samples, axis=0)[..., None].astype(np.float32)
        z_batch = z[first * samples:(first + photos_per_batch) * samples]
        yield first, decode(z_batch, gray_in).numpy()


def predict_chroma(decoder, grays, z, batch_size=256):
    """chroma_batches, all at once: float32 chroma (P·N, S, S, 2)."""
    return np.concatenate([chroma for _, chroma in chroma_batches(decoder, grays, z, batch_size)])


def colorize(decoder, grays, z):
    """Colorizations at the model's size: predict_chroma merged onto each gray, uint8 RGB."""
    return merge(np.repeat(grays, len(z) // len(grays), axis=0), predict_chroma(decoder, grays, z))


def build_cvae(size, latent_dim, width, encoder_input, chroma_loss, kl_weight, zero_z,
               chroma_weights, seed, class_prior=None, label_names=None, label_weight=0.0,
               z_grid=1, z_gain=False, z_regions=1):
    if encoder_input not in ENCODER_INPUTS:
        raise ValueError(f"encoder_input must be one of {ENCODER_INPUTS}")
    if chroma_loss not in CHROMA_LOSSES:
        raise ValueError(f"chroma_loss must be one of {CHROMA_LOSSES}")
    if z_grid > 1 and z_regions > 1:
        raise ValueError("z reaches the decoder through a grid or through regions, not both")
    encoder = build_encoder(size, latent_dim, width, encoder_input, z_grid, z_regions)
    decoder = build_decoder(size, latent_dim, width, chroma_loss, class_prior, z_grid, z_gain,
                            z_regions)
    return CVAE(encoder, decoder, kl_weight=kl_weight, zero_z=zero_z, chroma_weights=chroma_weights,
                seed=seed, label_names=label_names, label_weight=label_weight, name="main_vae")
