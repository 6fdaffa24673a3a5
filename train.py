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
import json
import math
import sys
import time
from pathlib import Path

from colorizer import config, import_keras
from colorizer.cli import (available_memory, fewer_malloc_arenas, fraction, hold_signals,
                           path_option, positive_float, positive_int, run, seed_value, up_to)
from colorizer.config import ModelConfig, RunConfig
from colorizer.images import common_side, split_by_original, whole_pngs

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
    p.add_argument("--seed", type=seed_value, help=f"default {RUN_DEFAULTS.seed}")
    p.add_argument("--latent-dim", type=up_to(positive_int, 1024),
                   help=f"size of z; default {MODEL_DEFAULTS.latent_dim}")
    p.add_argument("--width", type=up_to(positive_int, 512),
                   help="filters of the encoder's first stage and of the decoder's first "
                        f"downsampling (its full-size layer has half); default {MODEL_DEFAULTS.width}")
    p.add_argument("--kl-weight", type=positive_float,
                   help="weight of the KL term against the reconstruction loss; default "
                        f"{MODEL_DEFAULTS.kl_weight}")
    p.add_argument("--zero-z", type=fraction, help="share of photos decoded from z = 0; "
                                                     f"default {MODEL_DEFAULTS.zero_z}")
    p.add_argument("--rebalance-mix", type=fraction,
                   help="uniform share of the hue prior whose inverse weighs each pixel's loss "
                        f"(Zhang et al.'s λ); default {MODEL_DEFAULTS.rebalance_mix:g}; 1: every "
                        "hue alike")
    p.add_argument("--encoder-input", choices=config.ENCODER_INPUTS,
                   help="what the encoder sees: gray and true color (a CVAE), or gray only (the "
                        f"original project); default {MODEL_DEFAULTS.encoder_input}")
    p.add_argument("--backbone", choices=config.BACKBONES,
                   help="the ImageNet-trained network whose view of the gray the decoder reads, "
                        f"or none (the original project); default {MODEL_DEFAULTS.backbone}")
    p.add_argument("--z-regions", type=up_to(positive_int, 64),
                   help="soft regions read from the backbone through which z reaches the "
                        f"decoder, each with its own share of z; default {MODEL_DEFAULTS.z_regions} "
                        "(1 with --backbone none)")
    p.add_argument("--strategy", choices=config.STRATEGIES, default=config.STRATEGIES[0],
                   help="tf.distribute: mirrored trains on all GPUs of this machine, "
                        "multiworker on the machines named in TF_CONFIG (run it on each); "
                        "--batch-size is the global batch, split over all replicas")
    p.add_argument("--resume", action="store_true",
                   help="go on from models/checkpoint.keras up to --epochs, with its settings")
    return p


def main():
    fewer_malloc_arenas()  # before any thread allocates
    args = build_parser().parse_args()
    if args.strategy == "multiworker":  # from the process's start: see hold_signals
        hold_signals()
    images_dir, models_dir = Path(args.images), Path(args.models)
    check_folders(images_dir, models_dir, args.resume)
    paths = training_images(images_dir)
    size = common_side(paths)
    import_keras()  # TensorFlow's start-up log held back
    from colorizer import training

    strategy = training.start_strategy(args.strategy, on_wait=say)  # before other TF work
    training.lock_models(models_dir, strategy)
    settings, model_config, epochs_done = (resumed_settings(args, models_dir, size) if args.resume
                                           else new_settings(args, size))
    train_paths, val_paths = split_by_original(paths, settings.val_fraction, settings.seed)
    check_memory(size, min(settings.batch_size, len(train_paths)))
    vae = (training.load_checkpoint(models_dir, strategy) if args.resume else
           training.new_model(model_config, settings, train_paths, strategy, models_dir))
    training.set_seed(settings.seed + epochs_done)  # a resumed run draws anew
    train_ds, val_ds = training.datasets(train_paths, val_paths, model_config, settings,
                                         strategy, models_dir, log=say)
    print(summary(train_paths, val_paths, model_config, strategy, epochs_done))
    stopper, callbacks = training.make_callbacks(settings, model_config, models_dir, strategy,
                                                 train_paths, val_paths, epochs_done,
                                                 args.max_minutes or math.inf)
    start = time.time()
    history = training.fit(vae, train_ds, val_ds, settings.epochs, epochs_done, callbacks, paths,
                           models_dir)
    worker = training.worker(strategy)
    if math.isfinite(history.history["loss"][-1]) and worker is None:
        training.save_models(vae, models_dir, callbacks)
    kept = training.kept_epoch(models_dir) if worker is None else None
    report(history, stopper, (time.time() - start) / 60, worker, kept, args)


def say(text):
    print(f"train.py: {text}", flush=True)


def check_folders(images_dir, models_dir, resume):
    if models_dir.resolve() == images_dir.resolve():  # its preview.png would become a photo
        sys.exit(f"train.py: --models {models_dir} is the images folder: choose another")
    if config.PRETRAINED_DIR in (models_dir.resolve(), *models_dir.resolve().parents):
        sys.exit(f"train.py: --models {models_dir} holds the released model, which train.py never "
                 f"overwrites: choose another folder (test.py uses {config.MODELS_DIR}/ first)")
    if models_dir.exists() and not models_dir.is_dir():
        sys.exit(f"train.py: {models_dir} is a file, not a folder: choose another --models")
    if links := [name for name in config.MODELS_FILES if (models_dir / name).is_symlink()]:
        sys.exit(f"train.py: {models_dir / links[0]} is a link: train.py writes its files there "
                 "itself, never through a link; move it or choose another --models")
    if resume and not (models_dir / config.CHECKPOINT_FILE).is_file():
        sys.exit(f"train.py: no checkpoint at {models_dir / config.CHECKPOINT_FILE}: train once "
                 "without --resume")


def training_images(images_dir):
    """The PNGs in images_dir that decode whole; those cut short or damaged are named and left
    out, rather than stop training at the first batch that holds one."""
    def skipped(path, reason):
        print(f"train.py: skipped {path}: {reason}; re-run cleanup_data.py", file=sys.stderr)

    if not (paths := whole_pngs(images_dir, on_damaged=skipped)):
        sys.exit(f"train.py: no PNG photos in {images_dir}/: run cleanup_data.py "
                 "(and augment_data.py) first")
    return paths


def check_memory(size, batch):
    """Exits with one line, before any work, where training would need more memory than this
    machine (or its container) has free: the backbone reads twice the side, so large images
    take gigabytes."""
    need = config.TRAIN_MEMORY_BYTES + size**2 * (config.TRAIN_MEMORY_PER_PIXEL
                                                  + batch * config.TRAIN_MEMORY_PER_BATCH_PIXEL)
    if need > (free := available_memory()):
        sys.exit(f"train.py: training on {size}-px images in batches of {batch} needs about "
                 f"{need / 2**30:.1f} GB, more than the {free / 2**30:.1f} GB free here: use "
                 f"smaller images (cleanup_data.py --size {config.IMAGE_SIZE}) or a smaller "
                 "--batch-size")


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


def checkpoint_state(models_dir):
    """checkpoint.json, as colorizer.callbacks.Checkpoint writes it."""
    return json.loads((models_dir / config.CHECKPOINT_STATE_FILE).read_text(encoding="utf-8"))


def resumed_settings(args, models_dir, size):
    """(run settings, model settings, epochs done) from the checkpoint; every option given that
    differs from them is named in one line. A damaged or older checkpoint is one line."""
    state_path = models_dir / config.CHECKPOINT_STATE_FILE
    try:
        state = checkpoint_state(models_dir)
        kept = {name: state[name] for name in ("epochs_done", "seed", "batch_size")}
        if not all(isinstance(v, int) and v >= 0 for v in kept.values()):
            raise ValueError("not whole numbers")
    except (OSError, ValueError, KeyError, TypeError) as err:
        sys.exit(f"train.py: {state_path} is missing or damaged ({type(err).__name__}); train "
                 "again without --resume")
    try:
        model_config = ModelConfig.from_saved(state["model"])
    except (KeyError, TypeError, ValueError) as err:
        why = f" ({err})" if isinstance(err, ValueError) else ""
        sys.exit(f"train.py: {state_path} was written by an earlier train.py (whose checkpoints "
                 f"do not carry the model's settings) or names a retired option{why}; its "
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


def summary(train_paths, val_paths, model_config, strategy, epochs_done):
    size = model_config.size
    return (f"train.py: {len(train_paths)} training and {len(val_paths)} validation images of "
            f"{size}x{size}" + ("" if val_paths else " (too few photos to hold some out)")
            + f"; backbone {model_config.backbone}; encoder sees {model_config.encoder_input}; "
            f"latent {model_config.latent_dim}; {strategy.num_replicas_in_sync} replica(s)"
            + (f"; resuming after epoch {epochs_done}" if epochs_done else ""))


def report(history, stopper, minutes, worker, kept, args):
    """The run's summary; exits non-zero after a NaN (no model saved) or a signal. worker: the
    name of this process on a cluster where it is not the chief, else None; kept: the epoch
    whose decoder was kept, and its scores (training.kept_epoch), or None."""
    models_dir = Path(args.models)
    if not math.isfinite(history.history["loss"][-1]):
        sys.exit(f"train.py: the loss became NaN or infinite in epoch {history.epoch[-1] + 1}; "
                 f"no model saved, the last good checkpoint (if any) stays in {models_dir}/; "
                 "try a smaller --kl-weight or a fresh run")
    last = {k: v[-1] for k, v in history.history.items()}
    val = f", val_loss {last['val_loss']:.1f}" if "val_loss" in last else ""
    stopped = " (stopped by --max-minutes)" if stopper.reason == "time" else ""
    saved = f"saved to {models_dir}/" if worker is None else f"{worker}: the chief saves the models"
    complete = len(history.epoch) - stopper.cut_short
    epochs = (f"{complete} epoch{'' if complete == 1 else 's'}"
              + (" and part of one" if stopper.cut_short else ""))
    print(f"train.py: trained {epochs}{stopped} in {minutes:.1f} min, "
          f"loss {last['loss']:.1f} (reconstruction {last['reconstruction_loss']:.1f}, "
          f"KL {last['kl_loss']:.1f}){val}; {saved}")
    if kept:
        print(f"train.py: kept the decoder of epoch {kept[0]}, whose first colorization of "
              f"the validation photos was the best: balanced hue hits {kept[1]:.2f}, PSNR "
              f"{kept[2]:.2f} dB")
    if stopper.reason not in ("SIGINT", "SIGTERM"):
        return
    if worker is None:
        done = checkpoint_state(models_dir)["epochs_done"]
        where = ("" if (args.images, args.models) == (config.IMAGES_DIR, config.MODELS_DIR)
                 else f" --images {args.images} --models {args.models}")
        print(f"train.py: stopped by {stopper.reason} with {done} epochs done; "
              f"models saved. Resume with: python train.py --resume --epochs {args.epochs}{where}")
    sys.exit(130 if stopper.reason == "SIGINT" else 143)


if __name__ == "__main__":
    try:
        run(main, "train.py")
    except KeyboardInterrupt:
        sys.exit("train.py: interrupted; the last checkpoint, if any, is in the models folder")
