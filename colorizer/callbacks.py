"""Keras callbacks for train.py: checkpoints, the time limit and signals, the learning rate.

Keras' TerminateOnNaN stops a diverging run. Its BackupAndRestore is not used: it deletes its
backup when training ends, so a finished run could not be resumed for more epochs, and it has
no time limit or signal handling.
"""

import json
import math
import signal
import time
from pathlib import Path

import keras

from .color import rgb_to_gray
from .config import (CHECKPOINT_FILE, CHECKPOINT_STATE_FILE, DECODER_FILE, ENCODER_FILE,
                     HISTORY_CSV, HISTORY_PNG, KEPT_FILE, PREVIEW_PNG)
from .distribute import any_worker, mean_over_workers
from .figures import grid, plot_history, preview_rows
from .files import atomic_path, save_png, save_text
from .inference import Colorizer
from .metrics import first_colorization_scores
from .model import with_builtin_layers


def save_model(model, path):
    """model.save, atomically: a half-written file never carries the final name."""
    with atomic_path(path, suffix=".keras") as tmp:  # Keras insists on the .keras suffix
        model.save(tmp)


def save_coders(vae, models_dir):
    """The encoder and decoder with Keras' own layers only, so that they load anywhere with plain
    keras.saving.load_model: test.py needs only the decoder."""
    for model, name in [(vae.encoder, ENCODER_FILE), (vae.decoder, DECODER_FILE)]:
        save_model(with_builtin_layers(model), Path(models_dir) / name)


def trim_history(models_dir, epochs_done):
    """Drops the rows of history.csv past epochs_done, so a resumed run never repeats one."""
    path = Path(models_dir) / HISTORY_CSV
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.is_file() else []
    if not lines:
        return
    header, *rows = lines

    def epoch(row):
        try:
            return int(row.split(",", 1)[0])
        except ValueError:  # a line cut by a crash
            return math.inf
    save_text(header + "".join(r for r in rows if epoch(r) < epochs_done), path)


class Checkpoint(keras.callbacks.Callback):
    """After every epoch, saves the whole model (weights and optimizer state) and how many
    epochs are done. An epoch cut short counts as not done; a NaN model is never saved."""

    def __init__(self, models_dir, data_settings):
        super().__init__()
        self.models_dir = Path(models_dir)
        self.data_settings = data_settings

    def on_epoch_begin(self, epoch, logs=None):
        self.steps_seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps_seen += 1

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float(logs.get("loss", 0))):
            return
        complete = self.steps_seen == self.params.get("steps")
        self.models_dir.mkdir(parents=True, exist_ok=True)
        save_model(self.model, self.models_dir / CHECKPOINT_FILE)
        state = {"epochs_done": epoch + 1 if complete else epoch, **self.data_settings}
        save_text(json.dumps(state, indent=1), self.models_dir / CHECKPOINT_STATE_FILE)


class Stopper(keras.callbacks.Callback):
    """Ends training cleanly, mid-epoch if need be: after max_minutes, or on SIGINT or SIGTERM
    (a second Ctrl-C quits at once). reason says which, or stays None. On a cluster the workers
    agree after every batch, so all stop at the same step."""

    REASONS = ("SIGINT", "SIGTERM", "time")  # in order of precedence

    def __init__(self, max_minutes=math.inf):
        super().__init__()
        self.seconds = max_minutes * 60
        self.reason = None
        self.signal = None
        self.cut_short = False  # whether the last epoch stopped before its last batch

    def _on_signal(self, signum, frame):
        if self.signal == "SIGINT" and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()
        self.previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def on_train_end(self, logs=None):
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def on_train_batch_end(self, batch, logs=None):
        seen = {"SIGINT": self.signal == "SIGINT", "SIGTERM": self.signal == "SIGTERM",
                "time": time.monotonic() - self.start > self.seconds}
        counts = any_worker(self.model.distribute_strategy, [int(seen[r]) for r in self.REASONS])
        self.reason = next((r for r, n in zip(self.REASONS, counts) if n), None)
        if self.reason:
            self.model.stop_training = True
            self.cut_short = batch + 1 < (self.params.get("steps") or batch + 2)


def cosine_rate(progress, start, end):
    """The learning rate a share `progress` (0 to 1) through a run: cosine from start to end."""
    return end + (start - end) * (1 + math.cos(math.pi * min(max(progress, 0), 1))) / 2


class LearningRateDecay(keras.callbacks.Callback):
    """Before every batch, sets the learning rate to cosine_rate of how far the run is: through
    its epochs, or through max_minutes where that ends it first. Keras' CosineDecay needs the
    number of steps up front, which a time limit does not give. Logs the rate every epoch."""

    def __init__(self, start, end, epochs, max_minutes=math.inf):
        super().__init__()
        self.start, self.end, self.epochs = start, end, epochs
        self.seconds = max_minutes * 60

    def on_train_begin(self, logs=None):
        self.began = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        steps = self.params.get("steps") or math.inf
        by_time = mean_over_workers(self.model.distribute_strategy,
                                    (time.monotonic() - self.began) / self.seconds)
        progress = max((self.epoch + batch / steps) / self.epochs, by_time)
        self.rate = cosine_rate(progress, self.start, self.end)
        self.model.optimizer.learning_rate = self.rate

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.rate


class BestColorizer(keras.callbacks.Callback):
    """After every epoch, colors fixed validation photos from z = 0, the first colorization
    test.py gives, and logs their balanced hue hits and PSNR (val_hue, val_psnr); whenever the
    hue is the best yet, saves the encoder and decoder and records the epoch in kept.json, so
    that the models folder keeps the epoch that colors unseen photos best, not the last. The
    loss decodes the encoder's z, which saw the true colors: it says little about that. Runs
    before CSVLogger, which writes the two. best: the hue a resumed run's epochs must beat."""

    def __init__(self, models_dir, imgs_val, best=None):
        super().__init__()
        self.models_dir = Path(models_dir)
        self.imgs_val, self.grays = imgs_val, rgb_to_gray(imgs_val)
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not math.isfinite(float(logs.get("loss", 0))):
            return
        colorizer = Colorizer(self.model.decoder)
        imgs_rgb = colorizer.colorize(self.grays, colorizer.prior_z(len(self.grays), 1))
        hue, psnr = first_colorization_scores(imgs_rgb, self.imgs_val)
        logs["val_hue"], logs["val_psnr"] = hue, psnr
        if self.best is None or hue > self.best:  # a first epoch of nan hue is kept too
            self.best = hue if math.isfinite(hue) else -math.inf
            save_coders(self.model, self.models_dir)
            save_text(json.dumps({"epoch": epoch + 1, "val_hue": self.best, "val_psnr": psnr}),
                      self.models_dir / KEPT_FILE)

    @staticmethod
    def kept(models_dir):
        """(epoch from 1, val_hue, val_psnr) of the epoch whose decoder is kept, from kept.json;
        None before the first, or where the file is not the one this class writes."""
        try:
            kept = json.loads((Path(models_dir) / KEPT_FILE).read_text(encoding="utf-8"))
            return int(kept["epoch"]), float(kept["val_hue"]), float(kept["val_psnr"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


class Figures(keras.callbacks.Callback):
    """After every epoch: the loss curves from history.csv, and a preview grid of fixed photos
    (gray, a few samples, original), so color can be watched appearing. Runs after CSVLogger."""

    def __init__(self, models_dir, imgs_preview, samples=3, seed=0):
        super().__init__()
        self.models_dir = Path(models_dir)
        self.imgs_preview = imgs_preview
        self.samples, self.seed = samples, seed

    def on_epoch_end(self, epoch, logs=None):
        plot_history(self.models_dir / HISTORY_CSV, self.models_dir / HISTORY_PNG,
                     BestColorizer.kept(self.models_dir))
        colorizer = Colorizer(self.model.decoder)
        rows = preview_rows(colorizer, self.imgs_preview, colorizer.prior_z(1, self.samples,
                                                                            self.seed))
        save_png(grid(rows), self.models_dir / PREVIEW_PNG)
