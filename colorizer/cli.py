"""Argument types the scripts share: a value out of range is one argparse line, exit 2."""

import argparse
import sys


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


def seed(text):
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {text}")
    return value


def run(main, script):
    """main(), with a full or read-only disk, or a folder without permission, as one line."""
    try:
        main()
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        sys.exit(f"{script}: {err.strerror or err}{where}: free some space or choose another folder")
