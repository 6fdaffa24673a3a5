"""Training memory does not grow with the number of photos: their pixels are decoded as each
batch needs them and only their indices and names are shuffled."""

import os
import subprocess
import sys
import threading
import time

from PIL import Image

from conftest import NO_BACKBONE, REPO, TINY


def training_rss_anon_mib(images, tmp_path):
    """train.py's own memory (RssAnon: file pages are the kernel's to reclaim) at its peak while
    it trains, sampled every 50 ms from its summary line (printed as fit begins) to its end, a
    few seconds of training later."""
    proc = subprocess.Popen([sys.executable, str(REPO / "train.py"), *TINY[2:], *NO_BACKBONE,
                             "--epochs", "1000", "--max-minutes", "0.1", "--images", str(images),
                             "--models", str(tmp_path / f"models-{images.name}")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                            "PYTHONUNBUFFERED": "1"})
    training = threading.Event()

    def watch_output():
        for line in proc.stdout:
            if " training and " in line:
                training.set()
    threading.Thread(target=watch_output, daemon=True).start()
    peak = 0
    while proc.poll() is None:
        if training.is_set():
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    kb = next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))
                peak = max(peak, kb)
            except (OSError, StopIteration):
                pass
        time.sleep(0.05)
    assert proc.returncode == 0 and peak
    return peak / 1024


def test_training_memory_is_flat_between_two_image_counts(color_photos, tmp_path):
    originals = tmp_path / "originals"
    originals.mkdir()
    for i, photo in enumerate(color_photos[:8]):
        Image.fromarray(photo).resize((112, 112)).save(originals / f"p{i}.png")
    counts = {"few": 3000, "many": 9000}  # as copies: hard links under new names
    for name, count in counts.items():
        (tmp_path / name).mkdir()
        for i in range(count):
            os.link(originals / f"p{i % 8}.png", tmp_path / name / f"c{i:05d}.png")
    few, many = (training_rss_anon_mib(tmp_path / name, tmp_path) for name in counts)
    # Decoded and held (as before), the 6,000 more 112-px photos took 235 MiB more.
    assert many - few < 60, (few, many)
