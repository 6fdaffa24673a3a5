"""What the four scripts share at their edges: argument types (a value out of range is one
argparse line, exit 2), and main run so that an error of the disk is one line naming its cause."""

import argparse
import contextlib
import ctypes
import errno
import os
import signal
import sys
import threading
from pathlib import Path

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


def fewer_malloc_arenas(arenas=2):
    """glibc's malloc gives threads arenas of their own (up to eight a core) and keeps freed
    pages in each: TensorFlow's threads grew training's memory by about 0.1 GiB an epoch, where
    two arenas hold it flat (docs/speed.md, Training at scale). Does nothing off glibc."""
    try:
        ctypes.CDLL(None).mallopt(-8, arenas)  # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def available_memory(proc="/proc"):
    """Bytes this process may still take: what the system has available, or less where its
    memory control group (cgroup v2 or v1, as containers set them) or one above it is limited.
    Each group is found where this process's mounts show it (proc/self/mountinfo)."""
    with open(f"{proc}/meminfo") as f:
        free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    try:
        groups = [line.split(":", 2) for line in Path(proc, "self", "cgroup").read_text().split("\n")
                  if line.count(":") >= 2]
        mounts = Path(proc, "self", "mountinfo").read_text().splitlines()
    except OSError:
        return free
    for mount in mounts:
        fields = mount.split()
        tail = fields[fields.index("-") + 1:]
        if tail[0] == "cgroup2":
            path = next((p for _, kinds, p in groups if kinds == ""), None)
            files = ("memory.max", "memory.current", "inactive_file")
        elif tail[0] == "cgroup" and "memory" in tail[2].split(","):
            path = next((p for _, kinds, p in groups if "memory" in kinds.split(",")), None)
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        root, point = Path(fields[3]), Path(fields[4])
        if path is None:
            continue
        # A container's mount shows its own group as the root: the levels above are not there.
        inside = Path(path).relative_to(root) if Path(path).is_relative_to(root) else Path()
        for level in [point / inside, *(point / inside).parents]:
            free = min(free, _group_room(level, *files))
            if level == point:
                break
    return free


def _group_room(folder, limit_file, usage_file, reclaimable):
    """What a control group's limit leaves (limit − usage + its reclaimable file pages), or
    infinity where it has no limit or no such files."""
    try:
        limit = int((folder / limit_file).read_text())  # "max": no limit, a ValueError
        usage = int((folder / usage_file).read_text())
    except (OSError, ValueError):
        return float("inf")
    try:
        stat = dict(line.split()[:2] for line in (folder / "memory.stat").read_text().splitlines()
                    if line.strip())
        usage -= int(stat.get(reclaimable, 0))
    except (OSError, ValueError):
        pass
    return max(limit - usage, 0)


class Stalled(Exception):
    """A download that received nothing for a while (stall_watch)."""


@contextlib.contextmanager
def stall_watch(folders, seconds):
    """Raises Stalled in this (the main) thread, even inside a blocking read, where the bytes
    under folders stop growing for `seconds`: a network that accepts a connection and never
    answers (a stalled proxy, a captive portal) would otherwise keep a download waiting
    forever, and not every library a download goes through sets a time-out."""
    def on_alarm(signum, frame):
        raise Stalled(f"nothing arrived for {seconds:g} s: a stalled network or proxy?")

    def size():
        return sum(f.stat().st_size for folder in folders if Path(folder).is_dir()
                   for f in Path(folder).rglob("*") if f.is_file())

    done, main = threading.Event(), threading.main_thread().ident

    def watch():
        last, quiet = size(), 0.0
        while not done.wait(0.5):
            now = size()
            quiet = 0.0 if now != last else quiet + 0.5
            last = now
            if quiet >= seconds:
                signal.pthread_kill(main, signal.SIGALRM)
                return

    previous = signal.signal(signal.SIGALRM, on_alarm)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        signal.signal(signal.SIGALRM, previous)


class Interrupted(BaseException):
    """A run stopped by SIGINT or SIGTERM: run() prints one line and exits 128 + the signal.
    Not an Exception, as KeyboardInterrupt is not: a handler of errors (`except Exception`
    around a model's loading, say) must never take an interruption for a damaged file."""

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
    gone), as one line naming the file and the cause. Names print whatever their bytes (a
    latin-1 name from an old archive is shown with backslash escapes instead of stopping the
    run)."""
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
