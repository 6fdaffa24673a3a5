"""The colorizer package: settings (config), color math (color), image files (images, files,
outputs), the model (backbone, model), its training (data, callbacks, training), coloring
(inference), scores and pictures (metrics, figures). Read model.py, training.py and inference.py
for the machine-learning story."""

import os
import re
import sys
import tempfile

# TensorFlow's oneDNN kernels train and color several times faster (docs/speed.md), but TensorFlow
# leaves them off on CPUs it does not list (AMD's, most laptops) and reads this once, when first
# imported; colorizer is imported first. Their rounding differs from Eigen's in the 7th digit.
# 0 turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# A line of TensorFlow's C++ log: severity letter (Info, Warning, Error, Fatal), date, time, ...
_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]]+\] ")
_LOG_BEFORE_INIT = "WARNING: All log messages before absl::InitializeLog() is called"


class UserError(Exception):
    """A problem the user can fix (a damaged file, a folder in the way): the scripts print it as
    one line naming the file and the cause (colorizer.cli.run), and exit 1."""


def import_keras():
    """import keras (and TensorFlow) for a script: its log lines under TF_CPP_MIN_LOG_LEVEL (2
    unless set: warnings and errors) are held back, which TensorFlow itself fails to do for the
    lines it prints while loading (tensorflow/tensorflow#100442; "oneDNN custom operations are
    on" twice). Anything else it prints then passes to stderr."""
    min_level = int(os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2"))
    stderr_fd = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            import keras
        finally:
            os.dup2(stderr_fd, 2)
            os.close(stderr_fd)
        log.seek(0)
        held = False
        for line in log.read().decode(errors="replace").splitlines(keepends=True):
            if match := _LOG_LINE.match(line):
                held = "IWEF".index(match[1]) < min_level
            elif line.startswith(_LOG_BEFORE_INIT):
                held = min_level > 0
            if not held:  # a line of its own, or the next line of a message let through
                sys.stderr.write(line)
    return keras
