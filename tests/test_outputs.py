"""What test.py and train.py write: never over a user's file, every output its own name, one
line for every mistake, and the same weights from the same seed."""

import json
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from colorizer import config
from colorizer.files import save_png
from colorizer.outputs import read_photo_entries
from conftest import NO_BACKBONE, REPO, TINY, run_script, stderr_lines


def photos_in(folder, color_photos, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name, img in zip(names, color_photos[1:]):
        Image.fromarray(img).save(folder / name)
    return folder


def manifest(out):
    return {e["photo"]: e for e in read_photo_entries(out)}


def test_photos_whose_names_meet_keep_every_sample(pipeline, color_photos, tmp_path):
    work, *_ = pipeline
    inputs = photos_in(tmp_path / "in", color_photos, ["cat.jpg", "cat_2.jpg", "cat.png"])
    out = tmp_path / "out"
    run_script("test.py", "--input", inputs, "--output", out, "--samples", "2", cwd=work)
    entries = manifest(out)
    samples = [s for e in entries.values() for s in e["samples"]]
    assert len(samples) == 6 == len(set(samples))
    for name, entry in entries.items():  # each sample keeps its own photo's brightness
        gray_in = np.asarray(Image.open(out / entry["gray"]), int)
        for sample in entry["samples"]:
            gray_out = np.asarray(Image.open(out / sample).convert("L"), int)
            assert np.abs(gray_out - gray_in).mean() <= 1, (name, sample)


def test_a_run_with_fewer_samples_clears_the_earlier_ones(pipeline, color_photos, tmp_path):
    work, *_ = pipeline
    inputs = photos_in(tmp_path / "in", color_photos, ["a.png", "b.png"])
    out = tmp_path / "out"
    (out).mkdir()
    (out / "mine.png").write_bytes(b"the user's own file")
    run_script("test.py", "--input", inputs, "--output", out, "--samples", "3", cwd=work)
    assert (out / "a_3.png").is_file()
    run_script("test.py", "--input", inputs / "a.png", "--output", out, cwd=work)
    left = sorted(p.name for p in out.glob("*.png"))
    assert left == ["a.png", "mine.png"]
    assert (out / "mine.png").read_bytes() == b"the user's own file"
    assert list(manifest(out)) == ["a.png"]


def test_one_photo_and_odd_entries(pipeline, color_photos, tmp_path):
    work, *_ = pipeline
    inputs = photos_in(tmp_path / "in", color_photos, ["one.jpg", "two.png"])
    Image.fromarray(color_photos[0][:3]).save(inputs / "thin.png")  # 3 pixels tall
    (inputs / "sub").mkdir()
    os.symlink(tmp_path / "nowhere", inputs / "broken.jpg")
    os.mkfifo(inputs / "pipe.jpg")  # never opened: reading it would block
    result = run_script("test.py", "--input", inputs, "--output", tmp_path / "out",
                        cwd=work)
    lines = stderr_lines(result)
    for name, words in [("thin.png", "too small"), ("sub", "a folder"),
                        ("broken.jpg", "broken link"), ("pipe.jpg", "named pipe")]:
        assert any(name in line and words in line for line in lines), (name, lines)
    assert len(lines) == 4 and "colorized 2 photos" in result.stdout
    assert (tmp_path / "out" / "index.html").is_file() and (tmp_path / "out" / "metrics.csv").is_file()
    single = run_script("test.py", "--input", inputs / "one.jpg", "--output", tmp_path / "single",
                        cwd=work)
    assert "colorized 1 photos" in single.stdout and (tmp_path / "single" / "one.png").is_file()


def test_concurrent_writers_never_share_a_temporary_file(color_photos, tmp_path):
    imgs = [Image.fromarray(p) for p in color_photos[:2]]
    errors = []

    def write(img):
        try:
            for _ in range(20):
                save_png(img, tmp_path / "same.png")
        except Exception as err:  # noqa: BLE001 - any failure is the finding
            errors.append(err)
    threads = [threading.Thread(target=write, args=(img,)) for img in imgs * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and [p.name for p in tmp_path.iterdir()] == ["same.png"]
    written = np.asarray(Image.open(tmp_path / "same.png"))
    assert any(np.array_equal(written, np.asarray(img)) for img in imgs)


def mounted_tmpfs(tmp_path, options):
    """A tmpfs mounted with these options, or a skip where the tests may not mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    return mount


@pytest.fixture
def small_disk(tmp_path):
    """A 200 KB disk."""
    mount = mounted_tmpfs(tmp_path, "size=200k")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def read_only_disk(tmp_path):
    mount = mounted_tmpfs(tmp_path, "ro,size=200k")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("script, args", [
    ("test.py", ["--output", "{d}/out"]),
    ("cleanup_data.py", ["--source", "samples", "--output", "{d}/images"]),
    ("train.py", [*TINY, "--models", "{d}/models"]),
])
def test_a_read_only_disk_is_one_line(pipeline, read_only_disk, script, args):
    work, *_ = pipeline
    result = run_script(script, *[a.format(d=read_only_disk) for a in args], cwd=work, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1 and "the disk is read-only: choose another folder" in lines[0], lines
    assert read_only_disk.name in lines[0]  # the file it could not write


def test_a_full_disk_is_one_line(pipeline, color_photos, small_disk, tmp_path):
    work, *_ = pipeline
    inputs = photos_in(tmp_path / "in", color_photos, [f"p{i}.png" for i in range(12)])
    result = run_script("test.py", "--input", inputs, "--output", small_disk / "out",
                        "--samples", "8", cwd=work, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert all("the disk is full: free some space" in line for line in stderr_lines(result))
    assert len(stderr_lines(result)) == 1
    leftovers = [p for p in (small_disk / "out").rglob(".*.tmp")]
    assert leftovers == []


def test_the_same_seed_builds_the_same_weights(pipeline, tmp_path):
    work, *_ = pipeline
    code = ("import sys, hashlib, numpy as np; from colorizer import training; "
            "from pathlib import Path; from colorizer.images import list_images; "
            "from colorizer.config import ModelConfig, RunConfig; "
            "from colorizer.distribute import make_strategy; "
            "images, *seeds = sys.argv[1:]; paths = list_images(Path(images)); "
            "strategy = make_strategy('default')\n"
            "for seed in seeds:\n"
            "    vae = training.new_model(ModelConfig(width=8), RunConfig(seed=int(seed)), paths, "
            "strategy, Path('models'))\n"
            "    weights = b''.join(np.asarray(w).tobytes() for w in vae.weights)\n"
            "    print(hashlib.sha1(weights).hexdigest())")

    def weights_hashes(*seeds):
        """The hash of the weights each seed builds, one after the other in one fresh process."""
        env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", code, work / "images", *map(str, seeds)],
                                cwd=tmp_path, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()[-len(seeds):]
    (first,) = weights_hashes(3)
    other, again = weights_hashes(4, 3)  # another process, another seed built first
    assert again == first and other != first


@pytest.fixture(scope="module")
def trained(pipeline, tmp_path_factory):
    """A models folder after one tiny epoch with --seed 5."""
    work, *_ = pipeline
    models = tmp_path_factory.mktemp("trained") / "models"
    run_script("train.py", *TINY, *NO_BACKBONE, "--models", models, "--seed", "5", cwd=work)
    return models


@pytest.mark.parametrize("damage", ["truncated model", "bad json", "missing key", "wrong type",
                                    "earlier version", "retired option"])
def test_a_damaged_checkpoint_is_one_line(pipeline, trained, tmp_path, damage):
    work, *_ = pipeline
    models = tmp_path / "models"
    shutil.copytree(trained, models)
    checkpoint, state = models / config.CHECKPOINT_FILE, models / config.CHECKPOINT_STATE_FILE
    if damage == "truncated model":
        checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    else:
        settings = json.loads(state.read_text())
        earlier = {k: settings[k] for k in ("epochs_done", "seed", "batch_size")}
        retired = {**settings, "model": {**settings["model"], "z_grid": 3}}
        state.write_text({"bad json": '{"epochs_done": 1,', "missing key": '{"epochs_done": 1}',
                          "wrong type": '{"epochs_done": "1", "seed": 1, "batch_size": 16}',
                          "earlier version": json.dumps(earlier),
                          "retired option": json.dumps(retired)}[damage])
    result = run_script("train.py", "--resume", "--epochs", "3", "--models", models, cwd=work,
                        check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1 and "without --resume" in lines[0], lines
    if damage in ("earlier version", "retired option"):
        assert "written by an earlier train.py" in lines[0]


def test_cleanup_names_links_and_pipes_and_redoes_cut_outputs(color_photos, tmp_path):
    source = photos_in(tmp_path / "source" / "n01", color_photos, ["a.jpg", "b.png"]).parent
    os.symlink(tmp_path / "nowhere.jpg", source / "n01" / "broken.jpg")
    os.symlink(source / "n01" / "loop.jpg", source / "n01" / "loop.jpg")
    os.mkfifo(source / "n01" / "pipe.jpg")
    result = run_script("cleanup_data.py", "--source", source, cwd=tmp_path)
    lines = stderr_lines(result)
    assert len(lines) == 3 and "Traceback" not in result.stderr
    for name, words in [("broken.jpg", "broken link"), ("loop.jpg", "link loop"),
                        ("pipe.jpg", "named pipe")]:
        assert any(name in line and words in line for line in lines), (name, lines)
    assert "wrote 2 photos" in result.stdout
    cut = sorted((tmp_path / "images").iterdir())[0]
    cut.write_bytes(cut.read_bytes()[:100])  # as a crash on an older version could leave it
    again = run_script("cleanup_data.py", "--source", source, cwd=tmp_path)
    assert "wrote 1 photos" in again.stdout and "1 already done" in again.stdout
    assert Image.open(cut).size == (112, 112)
