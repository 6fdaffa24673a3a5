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
import sys
import time
from collections import Counter
from pathlib import Path

from PIL import Image

from colorizer import config, import_keras
from colorizer.cli import (fraction, nonnegative_float, positive_float, positive_int, run, seed,
                           up_to)
from colorizer.images import (image_label, is_crop, is_whole_png, list_images, load_array,
                              read_labels, split_by_original)

# -----------------------------------------------------------------------------
EPOCHS = 10
BATCH_SIZE = 32
# z is small and its KL weighed heavily, so z holds a few strong color choices (about 20 nats
# in 8 dimensions) that a handful of draws from the prior cover. With 64 dimensions and a KL
# weight of 0.02, z held 120-160 nats spread evenly and 8 draws found little of it (README).
LATENT_DIM = 8
CHROMA_LOSS = "squared"
# Against each loss, for a like share of z: the class loss, in nats over the half-size pixels,
# pays about 17 times what the squared error pays for the same color information (a Gaussian
# with the squared error's residual variance, 0.0084 per channel), so its KL weighs more.
KL_WEIGHT = {"squared": 0.3, "classes": 4.0}
ZERO_Z = 0.5  # share of each batch decoded from z = 0, so z = 0 learns the photo's own colors
# Zhang et al.'s λ: below 1, rare colors weigh more in the loss. At 0.5 (their value) the first
# colorization went 3 dB under the gray baseline, oversaturated orange (docs/quality.md): off.
REBALANCE_MIX = 1.0
COLOR_STATS_PHOTOS = 2000  # training images whose colors tell how common each color is
# Filters of the first stage; later stages double it. 16 trains about twice the steps of 32 in
# the same minutes, and learned more in 30 minutes (docs/quality.md).
WIDTH = 16
LEARNING_RATE = 1e-3
# The rate falls along a cosine to this over the run (its epochs or --max-minutes): at a constant
# 1e-3 the validation loss swung by 10 % between epochs and the last epoch was rarely the best.
FINAL_LEARNING_RATE = 1e-4
# Weight of the photo-class cross-entropy (labels.csv's folders) against the reconstruction,
# whose sum over a 112-px photo's chroma is about 250 when the class loss is about 5 (ln 200).
LABEL_WEIGHT = 0.0
# A class needs this many training photos (crops aside) to be learned: with fewer (the shared
# Mini-ImageNet sample has one per class) the head would learn to know photos, not things.
MIN_CLASS_PHOTOS = 5
# z reaches the decoder the same at every pixel (1) or through a G × G map. At 3 the draws
# differed by area instead of by one cast (tint share 0.41 against 0.64–0.68), but by fixed
# areas, not by what is there, and the best of 8 came 0.6–0.8 dB less close (docs/quality.md).
Z_GRID = 1
# Or through K soft regions the decoder finds in the gray, the encoder pooling the true colors
# under the same masks, so that a draw can change what is there wherever it lies. At 4 the tint
# share fell only to 0.58–0.62 (0.64–0.68) and training lost an epoch in 30 minutes to a second
# pass for the masks (docs/quality.md): off.
Z_REGIONS = 1
# z also scales each feature map (FiLM): bolder, more varied draws (best-of-8 hue 0.57 against
# 0.45–0.56), still casts over the whole photo, and the mean of 8 0.8 dB further: off.
Z_GAIN = False
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
    p.add_argument("--batch-size", type=up_to(positive_int, 4096), default=None,
                   help=f"default {BATCH_SIZE}; with --resume, the checkpoint's")
    p.add_argument("--latent-dim", type=up_to(positive_int, 1024), default=LATENT_DIM)
    p.add_argument("--width", type=up_to(positive_int, 512), default=WIDTH,
                   help="model width (filters)")
    p.add_argument("--chroma-loss", choices=config.CHROMA_LOSSES, default=CHROMA_LOSS,
                   help="what the decoder learns: the chroma (squared error) or a probability "
                        "per color class (cross-entropy, painting their annealed mean)")
    p.add_argument("--kl-weight", type=positive_float, default=None,
                   help="weight of the KL term against the reconstruction loss; default "
                        + ", ".join(f"{w} for {loss}" for loss, w in KL_WEIGHT.items()))
    p.add_argument("--zero-z", type=fraction, default=ZERO_Z,
                   help="share of each batch decoded from z = 0 (Sohn et al.'s hybrid objective)")
    p.add_argument("--rebalance-mix", type=fraction, default=REBALANCE_MIX,
                   help="uniform share of the color prior whose inverse weighs each pixel's "
                        "loss (Zhang et al.'s λ); 1 weighs every color alike")
    p.add_argument("--rebalance-by", choices=("color", "hue"), default="color",
                   help="whose rarity --rebalance-mix weighs: each color's (chroma bins, "
                        "Zhang et al.'s) or each hue's, whatever its saturation")
    p.add_argument("--label-weight", type=nonnegative_float, default=LABEL_WEIGHT,
                   help=f"weight of a head learning each photo's class (its source folder, "
                        f"from {config.LABELS_FILE}) on the decoder's gray features; 0: none")
    p.add_argument("--z-grid", type=up_to(positive_int, 8), default=Z_GRID,
                   help="z reaches the decoder through a G × G map (the encoder reads the same "
                        "grid); 1: the same at every pixel")
    p.add_argument("--z-regions", type=up_to(positive_int, 16), default=Z_REGIONS,
                   help="z reaches the decoder through K soft regions it finds in the gray (the "
                        "encoder reads the colors under the same); 1: none")
    p.add_argument("--z-gain", action=argparse.BooleanOptionalAction, default=Z_GAIN,
                   help="z also scales each feature map of the decoder (FiLM), not only shifts it")
    p.add_argument("--seed", type=seed, default=None,
                   help=f"default {SEED}; with --resume, the checkpoint's")
    p.add_argument("--encoder-input", choices=config.ENCODER_INPUTS, default="color",
                   help="what the encoder sees: gray and true color (a CVAE), or gray only "
                        "(the original project)")
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also write TensorBoard logs to this folder")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                   help="tf.distribute: mirrored trains on all GPUs of this machine, "
                        "multiworker on the machines named in TF_CONFIG (run it on each); "
                        "--batch-size is the global batch, split over all replicas")
    p.add_argument("--cpu-devices", type=up_to(positive_int, 64), default=1,
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


def training_chroma(paths, seed):
    """The chroma of up to COLOR_STATS_PHOTOS training images, for the color statistics."""
    import numpy as np

    from colorizer.color import rgb_to_chroma

    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(paths), min(len(paths), COLOR_STATS_PHOTOS), replace=False)
    return np.stack([rgb_to_chroma(load_array(paths[i])) for i in chosen])


def label_names(args, train_paths, labels):
    """The classes the label head learns (those of the training images), or None: no head."""
    if not args.label_weight:
        return None
    photos = Counter(image_label(labels, p) for p in train_paths if not is_crop(p))
    names = sorted(name for name, n in photos.items() if name and n >= MIN_CLASS_PHOTOS)
    if len(names) < 2:
        print(f"train.py: --label-weight ignored: {config.LABELS_FILE} in {args.images}/ names "
              f"{len(names)} class(es) with {MIN_CLASS_PHOTOS} or more training photos; "
              "cleanup_data.py records each photo's folder as its class")
        return None
    return names


def new_model(args, size, train_paths, strategy, names=None):
    """The CVAE the options describe, compiled, with weights fixed by --seed; with names (the
    classes of label_names), a label head on them."""
    import keras

    from colorizer.color import chroma_prior, hue_rebalancing_weights, rebalancing_weights
    from colorizer.model import build_cvae

    # Keras initializers draw their seeds when they are created: seed before building.
    keras.utils.set_random_seed(args.seed)
    classes = args.chroma_loss == "classes"
    chroma = training_chroma(train_paths, args.seed) if classes or args.rebalance_mix < 1 else None
    weigh = hue_rebalancing_weights if args.rebalance_by == "hue" else rebalancing_weights
    chroma_weights = None if args.rebalance_mix == 1 else weigh(chroma, args.rebalance_mix)
    with strategy.scope():
        vae = build_cvae(size, args.latent_dim, args.width, args.encoder_input, args.chroma_loss,
                         args.kl_weight or KL_WEIGHT[args.chroma_loss], args.zero_z,
                         chroma_weights, args.seed, chroma_prior(chroma) if classes else None,
                         names, args.label_weight, args.z_grid, args.z_gain, args.z_regions)
        vae.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE))
    return vae


def resumed_model(args, models_dir, strategy):
    """The checkpoint's model and epochs done; its seed and batch size replace the options'
    (said in one line where an option asked otherwise). A damaged checkpoint is one line."""
    import keras

    from colorizer.callbacks import read_checkpoint_state

    try:
        state = read_checkpoint_state(models_dir)
        epochs_done, seed, batch_size = state["epochs_done"], state["seed"], state["batch_size"]
        if not all(isinstance(v, int) and v >= 0 for v in (epochs_done, seed, batch_size)):
            raise ValueError("not whole numbers")
    except (OSError, ValueError, KeyError, TypeError) as err:
        sys.exit(f"train.py: {models_dir / config.CHECKPOINT_STATE_FILE} is missing or damaged "
                 f"({type(err).__name__}); train again without --resume")
    for option, given, kept in (("--seed", args.seed, seed), ("--batch-size", args.batch_size,
                                                              batch_size)):
        if given is not None and given != kept:
            print(f"train.py: {option} {given} ignored: resuming keeps the checkpoint's {kept}")
    args.seed, args.batch_size = seed, batch_size
    if epochs_done >= args.epochs:
        sys.exit(f"train.py: the checkpoint has {epochs_done} epochs done already: "
                 f"ask for more with --epochs")
    try:
        with strategy.scope():
            vae = keras.saving.load_model(models_dir / config.CHECKPOINT_FILE)
    except Exception as err:  # a damaged file fails deep inside Keras in many ways
        sys.exit(f"train.py: {models_dir / config.CHECKPOINT_FILE} is not a loadable model "
                 f"({type(err).__name__}); train again without --resume")
    return vae, epochs_done


def datasets(train_paths, val_paths, size, batch_size, seed, replicas, labels, label_names):
    """Training and validation tf.data sets, with each image's class number (-1: none) where
    label_names are given; with several replicas every batch is full, so that every replica
    gets an equal share of every batch."""
    from colorizer.data import make_dataset

    number = {name: i for i, name in enumerate(label_names or [])}

    def class_numbers(paths):
        return [number.get(image_label(labels, p), -1) for p in paths] if label_names else None

    if batch_size % replicas:
        sys.exit(f"train.py: --batch-size {batch_size} does not split evenly over {replicas} "
                 f"replicas: use a multiple of {replicas}")
    even = replicas > 1
    val_batch = min(batch_size, len(val_paths) // replicas * replicas) if even else batch_size
    train_ds = make_dataset(train_paths, size, batch_size, shuffle=True, seed=seed,
                            drop_remainder=even, labels=class_numbers(train_paths))
    val_ds = (make_dataset(val_paths, size, val_batch, shuffle=False, drop_remainder=even,
                           labels=class_numbers(val_paths))
              if val_paths and val_batch else None)
    return train_ds, val_ds


def main():
    args = parse_args()
    images_dir, models_dir = Path(args.images), Path(args.models)
    paths = list_images(images_dir) if images_dir.is_dir() else []
    for path in [p for p in paths if not is_whole_png(p)]:
        print(f"train.py: skipped {path}: empty or cut short; re-run cleanup_data.py",
              file=sys.stderr)
    if not (paths := [p for p in paths if is_whole_png(p)]):
        sys.exit(f"train.py: no PNG photos in {images_dir}/: run cleanup_data.py "
                 "(and augment_data.py) first")
    if models_dir.resolve() == images_dir.resolve():  # its preview.png would become a photo
        sys.exit(f"train.py: --models {models_dir} is the images folder: choose another")
    if config.PRETRAINED_DIR in (models_dir.resolve(), *models_dir.resolve().parents):
        sys.exit(f"train.py: --models {models_dir} holds the released model, which train.py never "
                 f"overwrites: choose another folder (test.py uses {config.MODELS_DIR}/ first)")
    if models_dir.exists() and not models_dir.is_dir():
        sys.exit(f"train.py: {models_dir} is a file, not a folder: choose another --models")
    checkpoint = models_dir / config.CHECKPOINT_FILE
    if args.z_grid > 1 and args.z_regions > 1:
        sys.exit("train.py: --z-grid and --z-regions are two ways z reaches the decoder: "
                 "choose one")
    if args.resume and not checkpoint.is_file():
        sys.exit(f"train.py: no checkpoint at {checkpoint}: train once without --resume")
    size = image_size(paths)
    labels = read_labels(images_dir)

    keras = import_keras()
    import numpy as np

    from colorizer.callbacks import (Checkpoint, Figures, LearningRateDecay, Stopper,
                                     read_checkpoint_state, save_model, trim_history)
    from colorizer.distribute import is_chief, make_strategy, worker_name
    from colorizer.model import with_builtin_layers
    strategy = make_strategy(args.strategy, args.cpu_devices)

    if args.resume:
        vae, initial_epoch = resumed_model(args, models_dir, strategy)
        train_paths, val_paths = split_by_original(paths, VAL_FRACTION, args.seed)
    else:
        initial_epoch = 0
        args.seed = SEED if args.seed is None else args.seed
        args.batch_size = BATCH_SIZE if args.batch_size is None else args.batch_size
        train_paths, val_paths = split_by_original(paths, VAL_FRACTION, args.seed)
        vae = new_model(args, size, train_paths, strategy,
                        label_names(args, train_paths, labels))
    keras.utils.set_random_seed(args.seed + initial_epoch)
    train_ds, val_ds = datasets(train_paths, val_paths, size, args.batch_size, args.seed,
                                strategy.num_replicas_in_sync, labels, vae.label_names)
    if not val_paths:
        print("train.py: too few photos to hold some out: no validation this run")
    print(f"train.py: {len(train_paths)} training and {len(val_paths)} validation images of "
          f"{size}x{size}; encoder sees {vae.encoder_input}; {vae.chroma_loss} loss; latent "
          f"{vae.decoder.inputs[0].shape[-1]}"
          + (f" through a {vae.z_grid}x{vae.z_grid} grid" if vae.z_grid > 1 else "")
          + (f" through {vae.z_regions} regions" if vae.z_regions > 1 else "")
          + (", scaling the features" if vae.z_gain else "")
          + f"; {strategy.num_replicas_in_sync} replica(s)"
          + (f"; label head on {len(vae.label_names)} classes, weight {vae.label_weight:g}"
             if vae.label_names else "")
          + (f"; resuming after epoch {initial_epoch}" if initial_epoch else ""))

    stopper = Stopper(args.max_minutes or math.inf)
    callbacks = [stopper, keras.callbacks.TerminateOnNaN(),
                 LearningRateDecay(LEARNING_RATE, FINAL_LEARNING_RATE, args.epochs,
                                   args.max_minutes or math.inf)]
    chief = is_chief(strategy)  # on a cluster only the chief writes; the others just train
    if chief:
        models_dir.mkdir(parents=True, exist_ok=True)
        if args.resume:  # an epoch cut short is done again: its row goes
            trim_history(models_dir, initial_epoch)
        shown = val_paths or train_paths
        preview = ([p for p in shown if not is_crop(p)] or shown)[:PREVIEW_PHOTOS]
        callbacks += [Checkpoint(models_dir, {"seed": args.seed, "batch_size": args.batch_size}),
                      keras.callbacks.CSVLogger(models_dir / config.HISTORY_CSV, append=args.resume),
                      Figures(models_dir, np.stack([load_array(p) for p in preview]))]
        if args.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=args.tensorboard))
    start = time.time()
    history = vae.fit(train_ds, validation_data=val_ds, epochs=args.epochs, shuffle=False,
                      initial_epoch=initial_epoch, callbacks=callbacks)
    minutes = (time.time() - start) / 60
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
        run(main, "train.py")
    except KeyboardInterrupt:
        sys.exit("train.py: interrupted; the last checkpoint, if any, is in the models folder")
