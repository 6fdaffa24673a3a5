"""Training steps timed from inside fit, for bench/speed.py and bench/profile_training.py."""

import time

from colorizer import import_keras

keras = import_keras()  # without TensorFlow's load-time log lines


class StepClock(keras.callbacks.Callback):
    """The time at the end of every training step. Steps are timed inside one fit: a new
    iterator first fills its shuffle buffer and prefetch, which a real run does once an epoch,
    so timing whole fit calls would count that against a few steps."""

    def __init__(self):
        super().__init__()
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())

    def images_per_s(self, skip, batch_size):
        ends = self.ends[skip - 1:]
        return (len(ends) - 1) * batch_size / (ends[-1] - ends[0])
