"""Training the CVAE, in the order a run goes: the model (new, or the checkpoint's), its input
(the photos and the backbone's maps of them), the callbacks, fit, and the saved models. train.py
is its command line; the benchmarks call it too, so a recipe is written once.
"""

import dataclasses
import math
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from . import UserError
from .backbone import backbone_model
from .callbacks import (BestColorizer, Checkpoint, Figures, LearningRateDecay, Stopper,
                        save_coders, save_model, trim_history)
from .config import CHECKPOINT_FILE, HISTORY_CSV, KEPT_FILE, MAPS_CACHE_DIR, VAE_FILE
from .data import backbone_maps, cache_folder, make_dataset
from .distribute import ClusterError, is_chief, make_strategy, worker_name
from .files import inflation_problem, lock_folder
from .images import UNREADABLE, is_crop, load_array, png_damage, spread, training_colors
from .model import build_cvae, needs_color_statistics


def start_strategy(name, on_wait):
    """colorizer.distribute's strategy of that name, before any other TensorFlow work; a cluster
    whose TF_CONFIG is malformed is a UserError."""
    try:
        return make_strategy(name, on_wait=on_wait)
    except ClusterError as err:
        raise UserError(str(err)) from None


def lock_models(models_dir, strategy):
    """On the chief, models_dir to this process alone until it ends: a second train.py into it
    is a UserError, where both would save and one run's models, checkpoint and maps be lost."""
    if is_chief(strategy):
        lock_folder(models_dir, f"another train.py is writing into {models_dir}/: wait for it "
                                "to finish or choose another --models")


def set_seed(value):
    """Python's, numpy's, TensorFlow's and Keras' random numbers from value on."""
    keras.utils.set_random_seed(value)


# -- the model ----------------------------------------------------------------------------------
def new_model(model_config, settings, train_paths, strategy, models_dir):
    """The CVAE of model_config, compiled, its weights fixed by the seed; the rebalancing
    weights from the colors of some of the training photos."""
    keras.utils.set_random_seed(settings.seed)  # initializers draw their seeds when created
    chroma = None
    if needs_color_statistics(model_config):
        try:
            chroma = training_colors(train_paths, settings.color_stats_photos, settings.seed)
        except UNREADABLE as err:
            stop_unreadable(err, train_paths, models_dir)
    with strategy.scope():
        vae = build_cvae(model_config, settings.seed, chroma)
        vae.compile(optimizer=keras.optimizers.Adam(settings.learning_rate))
    return vae


def load_checkpoint(models_dir, strategy):
    """The whole model saved after the last epoch, with its optimizer state."""
    path = models_dir / CHECKPOINT_FILE
    problem = inflation_problem(path)
    try:
        if problem:
            raise UserError(problem)
        with strategy.scope():
            return keras.saving.load_model(path)
    except Exception as err:  # a damaged file fails deep inside Keras in many ways
        raise UserError(f"{path} is not a loadable model ({problem or type(err).__name__}); "
                        "train again without --resume") from None


# -- the input ----------------------------------------------------------------------------------
def datasets(train_paths, val_paths, model_config, settings, strategy, models_dir, log=print):
    """Training and validation tf.data sets (colorizer.data), with the backbone's maps of every
    image computed first, or read from the chief's models folder where an earlier run on the
    same images left them; with several replicas every batch is full, so that every replica
    gets an equal share of every batch. log: a line for the user before the backbone's pass."""
    batch_size, size = settings.batch_size, model_config.size
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise UserError(f"--batch-size {batch_size} does not split evenly over {replicas} "
                        f"replicas: use a multiple of {replicas}")
    backbone, paths = backbone_model(model_config.backbone, size), train_paths + val_paths
    cache = (cache_folder(models_dir / MAPS_CACHE_DIR, backbone, paths, size)
             if backbone is not None and is_chief(strategy) else None)
    try:
        maps = backbone_maps(backbone, paths, size, cache, log=log)
    except tf.errors.OpError as err:
        stop_unreadable(err, paths, models_dir)
    n_train = len(train_paths)
    train_maps = {name: m[:n_train] for name, m in maps.items()}
    val_maps = {name: m[n_train:] for name, m in maps.items()}
    full_batches = replicas > 1
    val_batch = (min(batch_size, len(val_paths) // replicas * replicas) if full_batches
                 else batch_size)
    train_ds = make_dataset(train_paths, size, batch_size, shuffle=True, seed=settings.seed,
                            drop_remainder=full_batches, maps=train_maps)
    val_ds = (make_dataset(val_paths, size, val_batch, shuffle=False,
                           drop_remainder=full_batches, maps=val_maps)
              if val_paths and val_batch else None)
    return train_ds, val_ds


# -- the callbacks and fit ----------------------------------------------------------------------
def make_callbacks(settings, model_config, models_dir, strategy, train_paths, val_paths,
                   epochs_done, max_minutes=math.inf):
    """(the Stopper, every callback in the order Keras calls them): the Stopper first, so the
    others see a stopped batch as the last; on the chief, Checkpoint, then BestColorizer on up
    to settings.selection_photos validation photos that are not crops, spread over them (where
    there are settings.selection_min_photos), then CSVLogger, then Figures, which plots the row
    the logger has just written. Figures' preview: settings.preview_photos of the validation
    photos (else training ones)."""
    stopper = Stopper(max_minutes)
    callbacks = [stopper, keras.callbacks.TerminateOnNaN(),
                 LearningRateDecay(settings.learning_rate, settings.final_learning_rate,
                                   settings.epochs, max_minutes)]
    if not is_chief(strategy):  # on a cluster only the chief writes; the others just train
        return stopper, callbacks
    models_dir.mkdir(parents=True, exist_ok=True)
    if epochs_done:  # an epoch cut short is done again: its row goes
        trim_history(models_dir, epochs_done)
    else:  # a new run keeps an epoch of its own, not one an earlier run kept here
        (models_dir / KEPT_FILE).unlink(missing_ok=True)
    state = {"seed": settings.seed, "batch_size": settings.batch_size,
             "model": dataclasses.asdict(model_config)}
    callbacks.append(Checkpoint(models_dir, state))
    photos = [p for p in val_paths if not is_crop(p)]
    if len(photos) >= settings.selection_min_photos:
        imgs_val = np.stack([load_array(p) for p in spread(photos, settings.selection_photos)])
        callbacks.append(BestColorizer(models_dir, imgs_val,
                                       (BestColorizer.kept(models_dir) or [None, None])[1]))
    preview = ([p for p in val_paths or train_paths if not is_crop(p)]
               or val_paths or train_paths)
    imgs_preview = np.stack([load_array(p) for p in preview[:settings.preview_photos]])
    callbacks += [keras.callbacks.CSVLogger(models_dir / HISTORY_CSV, append=bool(epochs_done)),
                  Figures(models_dir, imgs_preview)]
    return stopper, callbacks


def fit(vae, train_ds, val_ds, epochs, epochs_done, callbacks, paths, models_dir):
    """vae.fit; a photo that could not be read mid-run (damaged since training began) is one
    line naming it, and the process ends: TensorFlow's input threads would keep it waiting."""
    try:
        return vae.fit(train_ds, validation_data=val_ds, epochs=epochs, shuffle=False,
                       initial_epoch=epochs_done, callbacks=callbacks)
    except tf.errors.OpError as err:
        stop_unreadable(err, paths, models_dir)


def stop_unreadable(err, paths, models_dir):
    """One line naming the photo among paths that TensorFlow or Pillow could not read (err),
    damaged since train.py checked it, and the process ends."""
    damaged = next(((p, reason) for p in paths if (reason := png_damage(p))), None)
    # TensorFlow's message ends its first telling line with the cause ("Invalid PNG data").
    message = getattr(err, "message", str(err))
    told = [line for line in message.splitlines() if "Error in" in line]
    cause = (f"{damaged[0]} is {damaged[1]}" if damaged else
             f"a photo could not be read ({(told or [message])[0].split(': ')[-1]})")
    print(f"train.py: training stopped: {cause}; the last checkpoint, if any, is in "
          f"{models_dir}/: re-run cleanup_data.py, then train.py --resume", file=sys.stderr,
          flush=True)
    os._exit(1)


def worker(strategy):
    """This process's name on a cluster where it is not the chief, or None where it writes the
    models."""
    return None if is_chief(strategy) else worker_name(strategy)


# -- the saved models ---------------------------------------------------------------------------
def kept_epoch(models_dir):
    """(epoch from 1, balanced hue hits, PSNR) of the epoch whose decoder BestColorizer kept in
    models_dir; None where no validation photos were watched."""
    return BestColorizer.kept(models_dir)


def save_models(vae, models_dir, callbacks=()):
    """The whole model (what --resume and the benchmarks read), and its encoder and decoder
    (callbacks.save_coders), unless a BestColorizer among callbacks watched the validation
    photos: it saved those of the best epoch already."""
    save_model(vae, models_dir / VAE_FILE)
    if not any(isinstance(c, BestColorizer) for c in callbacks):
        save_coders(vae, models_dir)
