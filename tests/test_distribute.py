"""train.py under tf.distribute: two logical CPU devices (mirrored) and two local worker
processes talking over localhost ports (multiworker); the saved decoder must colorize."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from colorizer import config
from colorizer.color import rgb_to_gray
from colorizer.distribute import CPU_DEVICES_VARIABLE
from conftest import NO_BACKBONE, REPO, TINY, run_script

TWO_CPU_DEVICES = {CPU_DEVICES_VARIABLE: "2"}


def assert_colorizes(work, models, out):
    """test.py with this decoder writes color (not gray) samples that keep the gray, and a
    drawn z colors unlike z = 0: the decoder reads z."""
    run_script("test.py", "--models", models, "--output", out, "--samples", "2", cwd=work)
    with Image.open(out / "gallery" / "photo0_gray.png") as img:
        gray = np.asarray(img, int)
    samples = []
    for name in ("photo0.png", "photo0_2.png"):
        with Image.open(out / name) as img:
            samples.append(np.asarray(img, int))
    for sample in samples:
        assert sample.shape == (*gray.shape, 3)
        assert (sample.max(-1) - sample.min(-1)).mean() > 1  # in color
        assert np.abs(rgb_to_gray(sample.astype(np.uint8)).astype(int) - gray).mean() <= 1
    assert np.abs(samples[1] - samples[0]).mean() > 0.5


def test_mirrored_strategy_over_two_cpu_devices_trains_a_decoder_that_colorizes(pipeline, tmp_path):
    work, *_ = pipeline
    # The pipeline's run left the backbone's maps of these images: this run reads them.
    shutil.copytree(work / config.MODELS_DIR / config.MAPS_CACHE_DIR,
                    tmp_path / "models" / config.MAPS_CACHE_DIR)
    result = run_script("train.py", *TINY, "--strategy", "mirrored", "--models",
                        tmp_path / "models", cwd=work, env=TWO_CPU_DEVICES)
    assert "2 replica(s)" in result.stdout
    assert "the backbone's maps of the" in result.stdout and "an earlier run's" in result.stdout
    assert_colorizes(work, tmp_path / "models", tmp_path / "out")
    uneven = run_script("train.py", *TINY[:2], "--batch-size", "15", "--strategy", "mirrored",
                        cwd=work, check=False, env=TWO_CPU_DEVICES)
    assert uneven.returncode != 0 and "multiple of 2" in uneven.stderr


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(work, tmp_path, *args):
    """Two train.py processes, one per worker of a localhost cluster, each with its own --models."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [sys.executable, str(REPO / "train.py"), *TINY, *NO_BACKBONE, "--strategy",
             "multiworker", "--models", str(tmp_path / f"models{index}"), *args],
            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def wait_for(workers):
    try:
        results = [w.communicate(timeout=300) for w in workers]
    finally:
        for w in workers:
            w.kill()
    return [(w.returncode, out, err) for w, (out, err) in zip(workers, results)]


def test_multiworker_trains_in_step_stops_together_and_the_chief_saves(pipeline, tmp_path):
    work, *_ = pipeline
    workers = start_workers(work, tmp_path, "--epochs", "1000")
    chief_models = tmp_path / "models0"
    while not (chief_models / "checkpoint.json").exists():  # an epoch done on both
        assert workers[0].poll() is None, workers[0].communicate()[1]
        time.sleep(0.2)
    workers[1].terminate()  # SIGTERM to the second worker only
    (code0, out0, err0), (code1, out1, err1) = wait_for(workers)
    assert (code0, code1) == (143, 143), err0 + err1
    assert "Traceback" not in err0 + err1
    for out in (out0, out1):
        assert "2 replica(s)" in out
    summaries = [next(line for line in out.splitlines() if line.startswith("train.py: trained"))
                 for out in (out0, out1)]
    losses = [line.split("loss ")[1].split()[0] for line in summaries]
    assert losses[0] == losses[1]  # one model, trained in step on both workers
    assert "stopped by SIGTERM" in out0 and "Resume with" in out0
    assert "worker 1: the chief saves the models" in out1
    assert not (tmp_path / "models1").exists()
    assert_colorizes(work, chief_models, tmp_path / "out")
