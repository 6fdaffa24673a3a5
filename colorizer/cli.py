"""What the four scripts share at their edges: argument types (a value out of range is one
argparse line, exit 2), and main run so that an error of the disk is one line naming its cause."""

import argparse
import errno
import os
import signal
import sys

from . import UserError

# What to do about an OSError, by its errno; others get their own words and no advice.
_ADVICE = {errno.ENOSPC: "the disk is full: free some space or choose another folder",
           errno.EDQUOT: "the disk quota is used up: free some space or choose another folder",
           errno.EROFS: "the disk is read-only: choose another folder",
           errno.EACCES: "permission denied: choose a folder you can write",
           errno.EPERM: "permission denied: choose a folder you can write",
           errno.ENOENT: "it disappeared during the run (deleted or moved)",
           errno.ENAMETOOLONG: "the name is too long for this file system: rename it"}


def path_option(text):
    """A file or folder option: never empty, which would mean the current folder (as
    --output "$OUT" does with OUT unset)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty (an unset variable?)")
    return text


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text):
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def up_to(kind, high):
    """kind (positive_int or positive_float), at most high: beyond it a run would only exhaust
    memory or time, or draw nonsense."""
    def parse(text):
        value = kind(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
        return value
    return parse


def fraction(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def seed_value(text):
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {text}")
    return value


class Interrupted(Exception):
    """A run stopped by SIGINT or SIGTERM: run() prints one line and exits 128 + the signal."""

    def __init__(self, name, outcome=""):
        super().__init__(name)
        self.name, self.outcome = name, outcome


class Interruption:
    """While entered, SIGINT and SIGTERM raise Interrupted, or once `writing` is set, are only
    recorded in `signal`, so that the run can finish what it writes and leave a consistent
    folder; a second signal while writing stops at once. Every signal is recorded: Python drops
    an exception that a handler raises while a finalizer runs, so a loop that must stop calls
    raise_if_signalled() as well."""

    def __init__(self):
        self.signal, self.writing = None, False

    def __enter__(self):
        self.previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def raise_if_signalled(self, outcome=""):
        if self.signal:
            raise Interrupted(self.signal, outcome)

    def _on_signal(self, signum, frame):
        name = signal.Signals(signum).name
        stop = not self.writing or self.signal
        self.signal = name
        if stop:
            raise Interrupted(name)


def hold_signals():
    """Holds SIGINT and SIGTERM back in every thread of this process until a watcher lets them
    through (colorizer.distribute.multiworker_strategy). A mask is a thread's own and threads
    started at import (numpy's) have theirs, so the script starts again, held from its first
    line: a held signal survives exec."""
    held = {signal.SIGINT, signal.SIGTERM}
    if held <= signal.pthread_sigmask(signal.SIG_BLOCK, []):
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def ignore_interrupts():
    """For worker processes: the parent alone answers Ctrl-C, which the terminal sends to all."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run(main, script):
    """main(), with a UserError, or an error of the disk (full, read-only, no permission, a file
    gone), as one line naming the file and the cause. Names print whatever their bytes (a latin-1 name from an
    old archive is shown with backslash escapes instead of stopping the run)."""
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="backslashreplace")
    try:
        with Interruption():  # a signal before a script sets its own handling: one line
            main()
    except Interrupted as err:
        print(f"{script}: interrupted by {err.name}" + (f": {err.outcome}" if err.outcome else ""),
              file=sys.stderr)
        sys.exit(128 + signal.Signals[err.name].value)
    except UserError as err:
        sys.exit(f"{script}: {err}")
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        cause = _ADVICE.get(err.errno, err.strerror or str(err))
        sys.exit(f"{script}: {where}{cause}")
