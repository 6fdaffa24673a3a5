"""The conditional VAE: main_vae_encoder, main_vae_decoder and main_vae, the whole model.

Contract of every model here: gray comes in as float 0–255, shape (S, S, 1); color goes in and
out as the two chroma channels of colorizer.color, shape (S, S, 2). S is a multiple of 16.
The encoder and decoder use built-in layers only, so they load anywhere with plain
keras.saving.load_model; main_vae needs this module imported first (its classes register here).
"""

import keras
import numpy as np
from keras import layers, ops

from .config import DOWNSAMPLINGS, ENCODER_INPUTS, TEMPERATURE
from .distribute import is_multiworker


def _conv(x, filters, strides=1, z=None, name=None):
    """3×3 convolution, batch normalization, ReLU: normalization lets color emerge in minutes.

    With z, a learned projection of z is added at every pixel before the normalization: what a
    convolution over z tiled across the map computes away from the borders, at a fraction of
    the cost, since a tiled map is the same at every pixel.
    """
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=name)(x)
    if z is not None:
        z_shift = layers.Dense(filters, use_bias=False, name=f"{name}_z")(z)
        z_shift = layers.Reshape((1, 1, filters), name=f"{name}_z_map")(z_shift)
        x = layers.Add(name=f"{name}_plus_z")([x, z_shift])
    x = layers.BatchNormalization(name=f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_encoder(size, latent_dim, width, encoder_input):
    """Recognition network q(z | gray, color), or q(z | gray) as in the original project."""
    gray = keras.Input((size, size, 1), name="gray")
    inputs = [gray]
    x = layers.Rescaling(1 / 127.5, offset=-1, name="gray_scaled")(gray)
    if encoder_input == "color":
        chroma = keras.Input((size, size, 2), name="chroma")
        inputs.append(chroma)
        x = layers.Concatenate(name="gray_and_chroma")([x, chroma])
    for level in range(DOWNSAMPLINGS):
        x = _conv(x, width * 2**level, strides=2, name=f"down{level + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(width * 8, activation="relu", name="hidden")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="main_vae_encoder")


def build_decoder(size, latent_dim, width):
    """p(color | z, gray): a U-Net over the full-size gray with z added in at every scale.

    Chroma is predicted at half size and upsampled bilinearly: color varies slowly, so the
    full-size work goes into reading the gray, not into painting it.
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
    x = _conv(x, width * 8, z=z, name="bottleneck")
    for level in reversed(range(DOWNSAMPLINGS - 1)):
        x = layers.UpSampling2D(name=f"up{level + 1}")(x)
        x = layers.Concatenate(name=f"up{level + 1}_merge")([x, skips[level]])
        x = _conv(x, width * 2**level, z=z, name=f"up{level + 1}_conv")
    chroma_half = layers.Conv2D(2, 3, padding="same", activation="tanh", name="chroma_half")(x)
    chroma = layers.UpSampling2D(interpolation="bilinear", name="chroma")(chroma_half)
    return keras.Model([z, gray], chroma, name="main_vae_decoder")


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

    Reconstruction: squared chroma error summed over pixels and channels; KL to N(0, I) summed
    over the latent; both averaged over the batch, the KL weighted by kl_weight.
    """

    def __init__(self, encoder, decoder, kl_weight, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.kl_weight = kl_weight
        self.seed = seed
        self.sampling = Sampling(seed=seed, name="sampling")
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        # Encoder and decoder arrive built and Sampling has no weights, so the whole model is
        # built now; under tf.distribute Keras cannot build it from a first batch.
        self.built = True

    @property
    def encoder_input(self):
        return "color" if len(self.encoder.inputs) == 2 else "gray"

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, inputs):
        gray, chroma = inputs
        z_mean, z_log_var = self.encoder([gray, chroma] if self.encoder_input == "color" else gray)
        z = self.sampling([z_mean, z_log_var])
        return self.decoder([z, gray]), z_mean, z_log_var

    def _elbo_terms(self, data, training):
        gray, chroma = data
        reconstruction, z_mean, z_log_var = self((gray, chroma), training=training)
        reconstruction_loss = ops.mean(ops.sum(ops.square(chroma - reconstruction), axis=(1, 2, 3)))
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl, axis=1))
        return reconstruction_loss + self.kl_weight * kl_loss, reconstruction_loss, kl_loss

    def _track(self, total, reconstruction, kl):
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
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
                "kl_weight": self.kl_weight, "seed": self.seed}

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


def build_cvae(size, latent_dim, width, encoder_input, kl_weight, seed):
    if encoder_input not in ENCODER_INPUTS:
        raise ValueError(f"encoder_input must be one of {ENCODER_INPUTS}")
    encoder = build_encoder(size, latent_dim, width, encoder_input)
    decoder = build_decoder(size, latent_dim, width)
    return CVAE(encoder, decoder, kl_weight=kl_weight, seed=seed, name="main_vae")
