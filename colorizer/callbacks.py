"""Keras callbacks for train.py."""

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stops training after a number of minutes, cutting the running epoch short."""

    def __init__(self, minutes):
        super().__init__()
        self.seconds = minutes * 60

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()
        self.reached = False

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.start > self.seconds:
            self.reached = True
            self.model.stop_training = True
