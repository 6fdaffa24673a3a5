"""Train the conditional VAE on the photos in images/ and save it to models/.

    python train.py                                       # defaults: colorizer/config.py
    python train.py --epochs 2 --width 8                  # a tiny model, for a quick check
    python train.py --epochs 1000 --max-minutes 30        # equal compute, for comparing runs

    python train.py --epochs 20 --resume                  # go on from the last checkpoint
    python train.py --strategy mirrored                   # all GPUs of this machine
    TF_CONFIG='{...}' python train.py --strategy multiworker   # on every machine of a cluster

Writes models/main_vae.keras (the whole model), models/main_vae_encoder.keras and
models/main_vae_decoder.keras (all test.py needs), and after every epoch models/checkpoint.keras
with its optimizer state. Without --resume a run starts from scratch. Ctrl-C or SIGTERM stops
within a batch, saves, and says how to resume.
"""

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from colorizer import config, import_keras
from colorizer.cli import (fraction, hold_signals, path_option, positive_float, positive_int, run,
                           seed, up_to)
from colorizer.config import ModelConfig, RunConfig
from colorizer.images import (UNREADABLE, is_crop, list_images, load_array, png_damage,
                              split_by_original, training_colors)

MODEL_DEFAULTS, RUN_DEFAULTS = ModelConfig(), RunConfig()


def build_parser():
    """The options. A model setting or the seed or batch size left out is None here: the
    default below, or the checkpoint's with --resume."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=config.IMAGES_DIR, type=path_option,
                   help="folder of training PNGs")
    p.add_argument("--models", default=config.MODELS_DIR, type=path_option,
                   help="folder the models are saved to")
    p.add_argument("--epochs", type=positive_int, default=RUN_DEFAULTS.epochs)
    p.add_argument("--max-minutes", type=positive_float, default=None,
                   help="stop after this many minutes of training, even mid-epoch, and save")
    p.add_argument("--batch-size", type=up_to(positive_int, 4096),
                   help=f"default {RUN_DEFAULTS.batch_size}")
    p.add_argument("--seed", type=seed, help=f"default {RUN_DEFAULTS.seed}")
    p.add_argument("--latent-dim", type=up_to(positive_int, 1024),
                   help=f"size of z; default {MODEL_DEFAULTS.latent_dim}")
    p.add_argument("--width", type=up_to(positive_int, 512),
                   help=f"filters of the first stage; default {MODEL_DEFAULTS.width}")
    p.add_argument("--chroma-loss", choices=config.CHROMA_LOSSES,
                   help="what the decoder learns: the chroma (squared error) or a probability "
                        f"per color class (cross-entropy); default {MODEL_DEFAULTS.chroma_loss}")
    p.add_argument("--kl-weight", type=positive_float,
                   help="weight of the KL term against the reconstruction loss; default "
                        + ", ".join(f"{w} for {loss}" for loss, w in config.KL_WEIGHTS.items()))
    p.add_argument("--zero-z", type=fraction, help="share of photos decoded from z = 0; "
                                                     f"default {MODEL_DEFAULTS.zero_z}")
    p.add_argument("--rebalance-mix", type=fraction,
                   help="uniform share of the hue prior whose inverse weighs each pixel's loss "
                        f"(Zhang et al.'s λ); default {MODEL_DEFAULTS.rebalance_mix:g}; 1: every "
                        "hue alike")
    p.add_argument("--encoder-input", choices=config.ENCODER_INPUTS,
                   help="what the encoder sees: gray and true color (a CVAE), gray and the color "
                        "less its mean over the photo (detail: z cannot carry an overall cast), or "
                        f"gray only (the original project); default {MODEL_DEFAULTS.encoder_input}")
    p.add_argument("--backbone", choices=config.BACKBONES,
                   help="the ImageNet-trained network whose view of the gray the decoder reads, "
                        f"or none (the original project); default {MODEL_DEFAULTS.backbone}")
    p.add_argument("--z-regions", type=up_to(positive_int, 64),
                   help="soft regions read from the backbone through which z reaches the "
                        f"decoder, each with its own share of z; default {MODEL_DEFAULTS.z_regions} "
                        "(1 with --backbone none)")
    p.add_argument("--tensorboard", metavar="DIR", type=path_option,
                   help="also write TensorBoard logs to this folder")
    p.add_argument("--strategy", choices=config.STRATEGIES, default=config.STRATEGIES[0],
                   help="tf.distribute: mirrored trains on all GPUs of this machine, "
                        "multiworker on the machines named in TF_CONFIG (run it on each); "
                        "--batch-size is the global batch, split over all replicas")
    p.add_argument("--resume", action="store_true",
                   help="go on from models/checkpoint.keras up to --epochs, with its settings")
    return p


def main():
    args = build_parser().parse_args()
    if args.strategy == "multiworker":  # from the process's start: see hold_signals
        hold_signals()
    images_dir, models_dir = Path(args.images), Path(args.models)
    check_folders(images_dir, models_dir, args.resume, args.tensorboard)
    paths = training_images(images_dir)
    size = image_size(paths)
    keras = import_keras()
    strategy = start_strategy(args.strategy)  # before any other TensorFlow work
    settings, model_config, epochs_done = (resumed_settings(args, models_dir, size) if args.resume
                                           else new_settings(args, size))
    train_paths, val_paths = split_by_original(paths, settings.val_fraction, settings.seed)
    vae = (load_checkpoint(models_dir, strategy) if args.resume
           else new_model(model_config, settings, train_paths, strategy, models_dir))
    keras.utils.set_random_seed(settings.seed + epochs_done)
    train_ds, val_ds = datasets(train_paths, val_paths, model_config, settings, strategy,
                                models_dir)
    print(summary(train_paths, val_paths, model_config, strategy, epochs_done))
    stopper, callbacks = make_callbacks(args, settings, model_config, models_dir, strategy,
                                        val_paths or train_paths, epochs_done)
    start = time.time()
    history = fit(vae, train_ds, val_ds, settings.epochs, epochs_done, callbacks, paths, models_dir)
    save_and_report(vae, history, stopper, (time.time() - start) / 60, strategy, args)


def check_folders(images_dir, models_dir, resume, tensorboard):
    if models_dir.resolve() == images_dir.resolve():  # its preview.png would become a photo
        sys.exit(f"train.py: --models {models_dir} is the images folder: choose another")
    if config.PRETRAINED_DIR in (models_dir.resolve(), *models_dir.resolve().parents):
        sys.exit(f"train.py: --models {models_dir} holds the released model, which train.py never "
                 f"overwrites: choose another folder (test.py uses {config.MODELS_DIR}/ first)")
    if models_dir.exists() and not models_dir.is_dir():
        sys.exit(f"train.py: {models_dir} is a file, not a folder: choose another --models")
    if resume and not (models_dir / config.CHECKPOINT_FILE).is_file():
        sys.exit(f"train.py: no checkpoint at {models_dir / config.CHECKPOINT_FILE}: train once "
                 "without --resume")
    try:  # before training, not at its first epoch's end
        if tensorboard:
            Path(tensorboard).mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=tensorboard).close()
    except OSError as err:
        sys.exit(f"train.py: --tensorboard {tensorboard} can't be written "
                 f"({err.strerror or err}): choose another folder")


def training_images(images_dir):
    """The PNGs in images_dir that decode whole (on every core); those cut short or damaged are
    named and left out, rather than stop training at the first batch that holds one."""
    paths = list_images(images_dir) if images_dir.is_dir() else []
    with ThreadPoolExecutor(os.cpu_count()) as pool:  # Pillow decodes outside the GIL
        damage = list(pool.map(png_damage, paths))
    for path, reason in zip(paths, damage):
        if reason:
            print(f"train.py: skipped {path}: {reason}; re-run cleanup_data.py", file=sys.stderr)
    if not (paths := [p for p, reason in zip(paths, damage) if not reason]):
        sys.exit(f"train.py: no PNG photos in {images_dir}/: run cleanup_data.py "
                 "(and augment_data.py) first")
    return paths


def start_strategy(name):
    """make_strategy; a cluster whose TF_CONFIG is malformed is one line."""
    from colorizer.distribute import ClusterError, make_strategy

    try:
        return make_strategy(name, on_wait=lambda text: print(f"train.py: {text}", flush=True))
    except ClusterError as err:
        sys.exit(f"train.py: {err}")


def image_size(paths):
    """The common side of the training images; exits with one line if they differ."""
    sizes = {}
    for path in paths:
        with Image.open(path) as img:
            sizes.setdefault(img.size, path)
    if len(sizes) > 1:
        (a, pa), (b, pb) = list(sizes.items())[:2]
        sys.exit(f"train.py: images differ in size ({pa.name} is {a}, {pb.name} is {b}); "
                 "re-run cleanup_data.py and augment_data.py into an empty folder")
    (width, height), path = next(iter(sizes.items()))
    if width != height or width % config.SIZE_MULTIPLE:
        sys.exit(f"train.py: {path.name} is {width}x{height}; training needs squares whose "
                 f"side is a multiple of {config.SIZE_MULTIPLE}: run cleanup_data.py --size "
                 f"{config.IMAGE_SIZE}")
    return width


def given(args, names):
    """{name: value} of the options among names that were given."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def new_settings(args, size):
    """(run settings, model settings, 0 epochs done) from the options and the defaults."""
    settings = RunConfig(**{**given(args, ["batch_size", "seed"]), "epochs": args.epochs})
    try:
        return settings, ModelConfig(size=size, **given(args, ModelConfig.fields())), 0
    except ValueError as err:  # options that do not go together
        sys.exit(f"train.py: {err}")


def resumed_settings(args, models_dir, size):
    """(run settings, model settings, epochs done) from the checkpoint; every option given that
    differs from them is named in one line. A damaged or older checkpoint is one line."""
    from colorizer.callbacks import read_checkpoint_state

    state_path = models_dir / config.CHECKPOINT_STATE_FILE
    try:
        state = read_checkpoint_state(models_dir)
        kept = {name: state[name] for name in ("epochs_done", "seed", "batch_size")}
        if not all(isinstance(v, int) and v >= 0 for v in kept.values()):
            raise ValueError("not whole numbers")
    except (OSError, ValueError, KeyError, TypeError) as err:
        sys.exit(f"train.py: {state_path} is missing or damaged ({type(err).__name__}); train "
                 "again without --resume")
    try:
        model_config = ModelConfig.from_saved(state["model"])
    except (KeyError, TypeError, ValueError):
        sys.exit(f"train.py: {state_path} was written by an earlier train.py (whose checkpoints "
                 "do not carry the model's settings) or names a retired option; its "
                 f"{config.DECODER_FILE} still colors with test.py: train again without --resume")
    if model_config.size != size:
        sys.exit(f"train.py: the checkpoint was trained on {model_config.size}-px images, "
                 f"{args.images}/ holds {size}-px ones: train again without --resume")
    if kept["epochs_done"] >= args.epochs:
        sys.exit(f"train.py: the checkpoint has {kept['epochs_done']} epochs done already: "
                 "ask for more with --epochs")
    checkpoint = {**dataclasses.asdict(model_config), **kept}
    ignored = [f"--{name.replace('_', '-')} {value} (it has {checkpoint[name]})"
               for name, value in given(args, ["seed", "batch_size", *ModelConfig.fields()]).items()
               if value != checkpoint[name]]
    if ignored:
        print(f"train.py: resuming keeps the checkpoint's settings; ignored: {', '.join(ignored)}")
    settings = RunConfig(epochs=args.epochs, seed=kept["seed"], batch_size=kept["batch_size"])
    return settings, model_config, kept["epochs_done"]


def new_model(model_config, settings, train_paths, strategy, models_dir):
    """The CVAE of model_config, compiled, its weights fixed by the seed."""
    import keras

    from colorizer.model import build_cvae, needs_color_statistics

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
    import keras

    import colorizer.model  # noqa: F401  (registers the CVAE's classes)

    try:
        with strategy.scope():
            return keras.saving.load_model(models_dir / config.CHECKPOINT_FILE)
    except Exception as err:  # a damaged file fails deep inside Keras in many ways
        sys.exit(f"train.py: {models_dir / config.CHECKPOINT_FILE} is not a loadable model "
                 f"({type(err).__name__}); train again without --resume")


def datasets(train_paths, val_paths, model_config, settings, strategy, models_dir):
    """Training and validation tf.data sets, with the backbone's maps of every image computed
    first, or read from the chief's models folder where an earlier run on the same images left
    them; with several replicas every batch is full, so that every replica gets an equal share
    of every batch."""
    import tensorflow as tf

    from colorizer.backbone import backbone_model
    from colorizer.data import backbone_maps, cache_folder, make_dataset
    from colorizer.distribute import is_chief

    batch_size, size = settings.batch_size, model_config.size
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        sys.exit(f"train.py: --batch-size {batch_size} does not split evenly over {replicas} "
                 f"replicas: use a multiple of {replicas}")
    backbone, paths = backbone_model(model_config.backbone, size), train_paths + val_paths
    cache = (cache_folder(models_dir / config.MAPS_CACHE_DIR, backbone, paths, size)
             if backbone is not None and is_chief(strategy) else None)
    if backbone is not None:
        told = (f"the backbone's maps of the {len(paths)} images are an earlier run's, in {cache}/"
                if cache and cache.is_dir() else f"the backbone reads the {len(paths)} images once")
        print(f"train.py: {told}", flush=True)
    try:
        maps = backbone_maps(backbone, paths, size, cache)
    except tf.errors.OpError as err:
        stop_unreadable(err, paths, models_dir)
    train_maps, val_maps = (tuple(m[rows] for m in maps) for rows in
                            (slice(len(train_paths)), slice(len(train_paths), None)))
    even = replicas > 1
    val_batch = min(batch_size, len(val_paths) // replicas * replicas) if even else batch_size
    train_ds = make_dataset(train_paths, size, batch_size, shuffle=True, seed=settings.seed,
                            drop_remainder=even, maps=train_maps)
    val_ds = (make_dataset(val_paths, size, val_batch, shuffle=False, drop_remainder=even,
                           maps=val_maps)
              if val_paths and val_batch else None)
    return train_ds, val_ds


def summary(train_paths, val_paths, model_config, strategy, epochs_done):
    size = model_config.size
    return (f"train.py: {len(train_paths)} training and {len(val_paths)} validation images of "
            f"{size}x{size}" + ("" if val_paths else " (too few photos to hold some out)")
            + f"; backbone {model_config.backbone}; encoder sees {model_config.encoder_input}; "
            f"{model_config.chroma_loss} loss; "
            f"latent {model_config.latent_dim}; {strategy.num_replicas_in_sync} replica(s)"
            + (f"; resuming after epoch {epochs_done}" if epochs_done else ""))


def make_callbacks(args, settings, model_config, models_dir, strategy, shown, epochs_done):
    """(the Stopper, every callback in the order Keras calls them): the Stopper first, so the
    others see a stopped batch as the last; on the chief, Checkpoint before CSVLogger before
    Figures, which plots the row the logger has just written."""
    import keras
    import numpy as np

    from colorizer.callbacks import Checkpoint, Figures, LearningRateDecay, Stopper, trim_history
    from colorizer.distribute import is_chief

    max_minutes = args.max_minutes or math.inf
    stopper = Stopper(max_minutes)
    callbacks = [stopper, keras.callbacks.TerminateOnNaN(),
                 LearningRateDecay(settings.learning_rate, settings.final_learning_rate,
                                   settings.epochs, max_minutes)]
    if not is_chief(strategy):  # on a cluster only the chief writes; the others just train
        return stopper, callbacks
    models_dir.mkdir(parents=True, exist_ok=True)
    if epochs_done:  # an epoch cut short is done again: its row goes
        trim_history(models_dir, epochs_done)
    preview = ([p for p in shown if not is_crop(p)] or shown)[:settings.preview_photos]
    state = {"seed": settings.seed, "batch_size": settings.batch_size,
             "model": dataclasses.asdict(model_config)}
    callbacks += [Checkpoint(models_dir, state),
                  keras.callbacks.CSVLogger(models_dir / config.HISTORY_CSV, append=bool(epochs_done)),
                  Figures(models_dir, np.stack([load_array(p) for p in preview]))]
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=args.tensorboard))
    return stopper, callbacks


def fit(vae, train_ds, val_ds, epochs, epochs_done, callbacks, paths, models_dir):
    """vae.fit; a photo that could not be read mid-run (damaged since training began) is one
    line naming it, and the process ends: TensorFlow's input threads would keep it waiting."""
    import tensorflow as tf

    try:
        return vae.fit(train_ds, validation_data=val_ds, epochs=epochs, shuffle=False,
                       initial_epoch=epochs_done, callbacks=callbacks)
    except tf.errors.OpError as err:
        stop_unreadable(err, paths, models_dir)


def stop_unreadable(err, paths, models_dir):
    """One line naming the photo among paths that TensorFlow or Pillow could not read (err),
    damaged since training_images checked it, and the process ends."""
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


def save_and_report(vae, history, stopper, minutes, strategy, args):
    """Saves the three models (on the chief) and prints the run's summary; exits non-zero
    after a NaN or a signal."""
    from colorizer.callbacks import read_checkpoint_state, save_model
    from colorizer.distribute import is_chief, worker_name
    from colorizer.model import with_builtin_layers

    models_dir, chief = Path(args.models), is_chief(strategy)
    if not math.isfinite(history.history["loss"][-1]):
        sys.exit(f"train.py: the loss became NaN or infinite in epoch {history.epoch[-1] + 1}; "
                 f"no model saved, the last good checkpoint (if any) stays in {models_dir}/; "
                 "try a smaller --kl-weight or a fresh run")
    if chief:
        for model, name in [(vae, config.VAE_FILE),
                            (with_builtin_layers(vae.encoder), config.ENCODER_FILE),
                            (with_builtin_layers(vae.decoder), config.DECODER_FILE)]:
            save_model(model, models_dir / name)
    last = {k: v[-1] for k, v in history.history.items()}
    val = f", val_loss {last['val_loss']:.1f}" if "val_loss" in last else ""
    stopped = " (stopped by --max-minutes)" if stopper.reason == "time" else ""
    saved = f"saved to {models_dir}/" if chief else f"{worker_name(strategy)}: the chief saves the models"
    full = len(history.epoch) - stopper.cut_short
    epochs = f"{full} epochs" + (" and part of one" if stopper.cut_short else "")
    print(f"train.py: trained {epochs}{stopped} in {minutes:.1f} min, "
          f"loss {last['loss']:.1f} (reconstruction {last['reconstruction_loss']:.1f}, "
          f"KL {last['kl_loss']:.1f}){val}; {saved}")
    if stopper.reason not in ("SIGINT", "SIGTERM"):
        return
    if chief:
        done = read_checkpoint_state(models_dir)["epochs_done"]
        where = ("" if (args.images, args.models) == (config.IMAGES_DIR, config.MODELS_DIR)
                 else f" --images {args.images} --models {args.models}")
        print(f"train.py: stopped by {stopper.reason} with {done} epochs done; models saved. "
              f"Resume with: python train.py --resume --epochs {args.epochs}{where}")
    sys.exit(130 if stopper.reason == "SIGINT" else 143)


if __name__ == "__main__":
    try:
        run(main, "train.py")
    except KeyboardInterrupt:
        sys.exit("train.py: interrupted; the last checkpoint, if any, is in the models folder")
