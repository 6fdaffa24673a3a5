"""Train the conditional VAE on the photos in images/ and save it to models/.

    python train.py                                       # defaults below
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
import math
import os
import sys
import time
from pathlib import Path

from PIL import Image

from colorizer import config
from colorizer.cli import positive_float, positive_int
from colorizer.images import is_crop, list_images, load_array, split_by_original

# -----------------------------------------------------------------------------
EPOCHS = 10
BATCH_SIZE = 32
# z is small and its KL weighed heavily, so z holds a few strong color choices (about 20 nats
# in 8 dimensions) that a handful of draws from the prior cover. With 64 dimensions and a KL
# weight of 0.02, z held 120-160 nats spread evenly and 8 draws found little of it (README).
LATENT_DIM = 8
KL_WEIGHT = 0.3
WIDTH = 32  # filters of the first stage; later stages double it
LEARNING_RATE = 1e-3
VAL_FRACTION = 0.1  # share of original photos (with their crops) held out for validation
PREVIEW_PHOTOS = 4  # validation photos shown in models/preview.png after every epoch
SEED = 1337
# -----------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=config.IMAGES_DIR, help="folder of training PNGs")
    p.add_argument("--models", default=config.MODELS_DIR, help="folder the models are saved to")
    p.add_argument("--epochs", type=positive_int, default=EPOCHS)
    p.add_argument("--max-minutes", type=positive_float, default=None,
                   help="stop after this many minutes of training, even mid-epoch, and save")
    p.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    p.add_argument("--latent-dim", type=positive_int, default=LATENT_DIM)
    p.add_argument("--width", type=positive_int, default=WIDTH, help="model width (filters)")
    p.add_argument("--kl-weight", type=positive_float, default=KL_WEIGHT,
                   help="weight of the KL term against the summed squared chroma error")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--encoder-input", choices=config.ENCODER_INPUTS, default="color",
                   help="what the encoder sees: gray and true color (a CVAE), or gray only "
                        "(the original project)")
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also write TensorBoard logs to this folder")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                   help="tf.distribute: mirrored trains on all GPUs of this machine, "
                        "multiworker on the machines named in TF_CONFIG (run it on each); "
                        "--batch-size is the global batch, split over all replicas")
    p.add_argument("--cpu-devices", type=positive_int, default=1,
                   help="with --strategy mirrored and no GPU, split the CPU into this many "
                        "logical devices (for trying the mirrored path)")
    p.add_argument("--resume", action="store_true",
                   help="go on from models/checkpoint.keras up to --epochs; the model's "
                        "settings, the seed and the batch size come from the checkpoint")
    return p.parse_args()


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


def datasets(train_paths, val_paths, size, batch_size, seed, replicas):
    """Training and validation tf.data sets; with several replicas every batch is full, so that
    every replica gets an equal share of every batch."""
    from colorizer.data import make_dataset

    if batch_size % replicas:
        sys.exit(f"train.py: --batch-size {batch_size} does not split evenly over {replicas} "
                 f"replicas: use a multiple of {replicas}")
    even = replicas > 1
    val_batch = min(batch_size, len(val_paths) // replicas * replicas) if even else batch_size
    train_ds = make_dataset(train_paths, size, batch_size, shuffle=True, seed=seed,
                            drop_remainder=even)
    val_ds = (make_dataset(val_paths, size, val_batch, shuffle=False, drop_remainder=even)
              if val_paths and val_batch else None)
    return train_ds, val_ds


def main():
    args = parse_args()
    images_dir, models_dir = Path(args.images), Path(args.models)
    if not images_dir.is_dir() or not (paths := list_images(images_dir)):
        sys.exit(f"train.py: no PNG photos in {images_dir}/: run cleanup_data.py "
                 "(and augment_data.py) first")
    if models_dir.exists() and not models_dir.is_dir():
        sys.exit(f"train.py: {models_dir} is a file, not a folder: choose another --models")
    checkpoint = models_dir / config.CHECKPOINT_FILE
    if args.resume and not checkpoint.is_file():
        sys.exit(f"train.py: no checkpoint at {checkpoint}: train once without --resume")
    size = image_size(paths)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from colorizer.callbacks import Checkpoint, Figures, Stopper, read_checkpoint_state, save_model
    from colorizer.distribute import is_chief, make_strategy, worker_name
    from colorizer.model import build_cvae

    strategy = make_strategy(args.strategy, args.cpu_devices)

    if args.resume:
        state = read_checkpoint_state(models_dir)
        initial_epoch, args.seed, args.batch_size = (state["epochs_done"], state["seed"],
                                                     state["batch_size"])
        if initial_epoch >= args.epochs:
            sys.exit(f"train.py: the checkpoint has {initial_epoch} epochs done already: "
                     f"ask for more with --epochs")
        with strategy.scope():
            vae = keras.saving.load_model(checkpoint)
    else:
        initial_epoch = 0
        with strategy.scope():
            vae = build_cvae(size, args.latent_dim, args.width, args.encoder_input,
                             args.kl_weight, args.seed)
            vae.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE))
    keras.utils.set_random_seed(args.seed + initial_epoch)
    train_paths, val_paths = split_by_original(paths, VAL_FRACTION, args.seed)
    train_ds, val_ds = datasets(train_paths, val_paths, size, args.batch_size, args.seed,
                                strategy.num_replicas_in_sync)
    print(f"train.py: {len(train_paths)} training and {len(val_paths)} validation images of "
          f"{size}x{size}; encoder sees {vae.encoder_input}; latent "
          f"{vae.decoder.inputs[0].shape[-1]}; {strategy.num_replicas_in_sync} replica(s)"
          + (f"; resuming after epoch {initial_epoch}" if initial_epoch else ""))

    stopper = Stopper(args.max_minutes or math.inf)
    callbacks = [stopper]
    chief = is_chief(strategy)  # on a cluster only the chief writes; the others just train
    if chief:
        models_dir.mkdir(parents=True, exist_ok=True)
        preview = [p for p in val_paths or train_paths if not is_crop(p)][:PREVIEW_PHOTOS]
        callbacks += [Checkpoint(models_dir, {"seed": args.seed, "batch_size": args.batch_size}),
                      keras.callbacks.CSVLogger(models_dir / config.HISTORY_CSV, append=args.resume),
                      Figures(models_dir, np.stack([load_array(p) for p in preview]))]
        if args.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=args.tensorboard))
    start = time.time()
    history = vae.fit(train_ds, validation_data=val_ds, epochs=args.epochs, shuffle=False,
                      initial_epoch=initial_epoch, callbacks=callbacks)
    minutes = (time.time() - start) / 60
    if stopper.reason == "nan":
        sys.exit(f"train.py: the loss became NaN or infinite in epoch {history.epoch[-1] + 1}; "
                 f"no model saved, the last good checkpoint (if any) stays in {models_dir}/; "
                 "try a smaller --kl-weight or a fresh run")

    if chief:
        for model, name in [(vae, config.VAE_FILE), (vae.encoder, config.ENCODER_FILE),
                            (vae.decoder, config.DECODER_FILE)]:
            save_model(model, models_dir / name)
    last = {k: v[-1] for k, v in history.history.items()}
    val = f", val_loss {last['val_loss']:.1f}" if "val_loss" in last else ""
    stopped = " (stopped by --max-minutes)" if stopper.reason == "time" else ""
    saved = f"saved to {models_dir}/" if chief else f"{worker_name(strategy)}: the chief saves the models"
    print(f"train.py: trained {len(history.epoch)} epochs{stopped} in {minutes:.1f} min, "
          f"loss {last['loss']:.1f} (reconstruction {last['reconstruction_loss']:.1f}, "
          f"KL {last['kl_loss']:.1f}){val}; {saved}")
    if stopper.reason in ("SIGINT", "SIGTERM"):
        if chief:
            done = read_checkpoint_state(models_dir)["epochs_done"]
            print(f"train.py: stopped by {stopper.reason} with {done} epochs done; models saved. "
                  f"Resume with: python train.py --resume --epochs {args.epochs}"
                  + (f" --images {images_dir} --models {models_dir}"
                     if (images_dir, models_dir) != (Path(config.IMAGES_DIR), Path(config.MODELS_DIR))
                     else ""))
        sys.exit(130 if stopper.reason == "SIGINT" else 143)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("train.py: interrupted; the last checkpoint, if any, is in the models folder")
