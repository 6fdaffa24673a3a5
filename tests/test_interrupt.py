"""Training survives interruption: --resume, a real SIGINT, and one-line errors for bad models."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from colorizer import config
from colorizer.scripts import prepare_photos
from conftest import NO_BACKBONE, REPO, TINY, run_script, stderr_lines

TINY_MODEL = TINY[2:]  # conftest's tiny model, its epochs given here


@pytest.fixture(scope="module")
def images(tmp_path_factory, archive):
    work = tmp_path_factory.mktemp("work")
    prepare_photos(archive[0], work / "images")
    return work


def optimizer_steps(*checkpoints):
    """Steps each checkpoint's optimizer has taken, read in one fresh process."""
    code = ("import sys, keras, colorizer.model\n"
            "for path in sys.argv[1:]:\n"
            "    print(int(keras.saving.load_model(path).optimizer.iterations))")
    result = subprocess.run([sys.executable, "-c", code, *map(str, checkpoints)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [int(steps) for steps in result.stdout.split()[-len(checkpoints):]]


def test_resume_trains_only_the_missing_epochs_with_the_checkpoints_settings(images):
    run_script("train.py", *TINY_MODEL, *NO_BACKBONE, "--epochs", "1", "--seed", "5", "--models",
               "resumed", cwd=images)
    first = images / "first-checkpoint.keras"
    shutil.copy(images / "resumed" / config.CHECKPOINT_FILE, first)
    resumed = run_script("train.py", *TINY_MODEL, "--epochs", "2", "--seed", "6", "--resume",
                         "--zero-z", "0.5", "--encoder-input", "gray", "--models", "resumed",
                         cwd=images).stdout
    assert "Epoch 2/2" in resumed and "Epoch 1/2" not in resumed
    # Every option given that differs from the checkpoint is named; one that agrees is not.
    assert ("train.py: resuming keeps the checkpoint's settings; ignored: --seed 6 (it has 5), "
            "--encoder-input gray (it has color)\n") in resumed
    assert "encoder sees color" in resumed
    state = json.loads((images / "resumed" / config.CHECKPOINT_STATE_FILE).read_text())
    assert state["seed"] == 5 and state["epochs_done"] == 2
    # The checkpoint's optimizer goes on counting: a fresh model started at epoch 2 would hold
    # only the last epoch's steps. (The losses of such short runs are too noisy to tell.)
    steps_first, steps = optimizer_steps(first, images / "resumed" / config.CHECKPOINT_FILE)
    assert steps_first > 0 and steps == 2 * steps_first


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_and_says_how_to_resume(images, sig, code):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, str(REPO / "train.py"), *TINY_MODEL, *NO_BACKBONE,
                             "--epochs", "1000", "--models", f"interrupted-{sig.name}"],
                            cwd=images, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = ""
    for line in proc.stdout:  # Keras' progress lines; wait until training is well under way
        seen += line
        if "Epoch 2/1000" in line:
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert f"stopped by {sig.name}" in out and "python train.py --resume --epochs 1000" in out
    models = images / f"interrupted-{sig.name}"
    for name in (config.CHECKPOINT_FILE, config.CHECKPOINT_STATE_FILE, config.DECODER_FILE):
        assert (models / name).is_file()
    assert not list(models.glob(".*tmp*"))


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_a_bad_model_file_gets_one_line(images, tmp_path, problem):
    models = tmp_path / "models"
    models.mkdir()
    if problem == "corrupt":
        (models / config.DECODER_FILE).write_bytes(b"PK\x03\x04 not really a zip")
    (images / "test_images").mkdir(exist_ok=True)
    shutil.copy(next((images / "images").iterdir()), images / "test_images" / f"x-{problem}.png")
    result = run_script("test.py", "--models", models, cwd=images, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(stderr_lines(result)) == 1
    assert "train.py" in result.stderr


def test_resume_without_a_checkpoint_gets_one_line(images, tmp_path):
    result = run_script("train.py", "--resume", "--models", tmp_path, cwd=images, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "without --resume" in result.stderr


def test_a_diverging_loss_stops_without_saving(images, tmp_path):
    # 1e38 times any KL above about 3.4 overflows float32: a real infinite loss, on batch one
    result = run_script("train.py", *TINY_MODEL, *NO_BACKBONE, "--epochs", "3", "--kl-weight", "1e38",
                        "--models", tmp_path, cwd=images, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "NaN or infinite" in result.stderr
    assert not (tmp_path / config.DECODER_FILE).exists()
    assert not (tmp_path / config.CHECKPOINT_FILE).exists()
