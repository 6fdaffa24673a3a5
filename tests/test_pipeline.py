"""The four scripts end to end, as subprocesses, on a small archive of real photos, tiny model."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from colorizer import config
from colorizer.images import CROPS_PER_PHOTO, is_crop, open_rgb, square
from conftest import REPO, run_script

TINY = ["--epochs", "1", "--batch-size", "16", "--latent-dim", "8", "--width", "8"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, archive):
    """cleanup -> augment -> train -> test, once; returns the work folder and each script's output."""
    archive_dir, n_color, n_gray = archive
    work = tmp_path_factory.mktemp("work")
    out = {"cleanup": run_script("cleanup_data.py", "--source", archive_dir, cwd=work).stdout,
           "augment": run_script("augment_data.py", cwd=work).stdout,
           "augment_again": run_script("augment_data.py", cwd=work).stdout,
           "train": run_script("train.py", *TINY, cwd=work).stdout}
    test_images = work / config.TEST_IMAGES_DIR
    test_images.mkdir()
    for i, path in enumerate(sorted(archive_dir.glob("*/*"))[:4]):
        with Image.open(path) as img:  # any size, any format
            img.save(test_images / f"photo{i}{'.jpg' if i % 2 else '.png'}")
            if i == 0:
                img.convert("L").save(test_images / "gray.png")
    out["test"] = run_script("test.py", "--samples", "3", "--seed", "7", cwd=work).stdout
    return work, out, n_color, n_gray


def test_cleanup_writes_every_color_photo_once(pipeline):
    work, out, n_color, n_gray = pipeline
    images = sorted((work / "images").glob("*.png"))
    originals = [p for p in images if not is_crop(p)]
    assert len(originals) == n_color  # both photos with the same file name survived
    assert f"wrote {n_color} photos" in out["cleanup"]
    assert f"skipped {n_gray} grayscale" in out["cleanup"]
    for path in originals:
        with Image.open(path) as img:
            assert img.size == (112, 112) and img.mode == "RGB"


def test_augment_adds_four_crops_once(pipeline):
    work, out, n_color, _ = pipeline
    images = list((work / "images").glob("*.png"))
    assert len(images) == n_color * (1 + CROPS_PER_PHOTO)
    assert f"wrote {n_color * CROPS_PER_PHOTO} crops" in out["augment"]
    assert "wrote 0 crops" in out["augment_again"]


@pytest.mark.parametrize("name", [config.VAE_FILE, config.ENCODER_FILE, config.DECODER_FILE])
def test_models_load_in_a_fresh_process(pipeline, name):
    work, *_ = pipeline
    code = ("import sys, keras, colorizer.model; "
            "m = keras.saving.load_model(sys.argv[1]); print(m.name, m.count_params())")
    result = subprocess.run([sys.executable, "-c", code, str(work / "models" / name)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == name.removesuffix(".keras")


def test_decoder_loads_without_the_package(pipeline, tmp_path):
    work, *_ = pipeline
    code = ("import sys, keras; m = keras.saving.load_model(sys.argv[1]); "
            "print([tuple(i.shape) for i in m.inputs], tuple(m.outputs[0].shape))")
    result = subprocess.run([sys.executable, "-c", code, str(work / "models" / config.DECODER_FILE)],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "(None, 8), (None, 112, 112, 1)]" in result.stdout and "(None, 112, 112, 2)" in result.stdout


def test_test_writes_samples_in_color_keeping_the_gray(pipeline):
    work, out, *_ = pipeline
    outputs = sorted(p.name for p in (work / "test_output").iterdir())
    expected = [f"{stem}{s}.png" for stem in ("gray", "photo0", "photo1", "photo2", "photo3")
                for s in ("", "_2", "_3")]
    assert outputs == sorted(expected + ["metrics.csv"])
    for i in range(4):
        with Image.open(work / "test_output" / f"photo{i}.png") as img:
            assert img.size == (112, 112) and img.mode == "RGB"
            gray_out = np.asarray(img.convert("L"), int)
        src = next((work / "test_images").glob(f"photo{i}.*"))
        gray_in = np.asarray(square(open_rgb(src, 112)).convert("L"), int)
        assert np.abs(gray_out - gray_in).mean() <= 1
    assert "colorized 5 photos x 3 samples" in out["test"]


def test_color_photos_are_scored_beside_the_gray_baseline(pipeline):
    work, out, *_ = pipeline
    with open(work / "test_output" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["photo"] for r in rows) == ["photo0.png", "photo1.jpg", "photo2.png", "photo3.jpg"]
    for row in rows:
        assert 10 < float(row["psnr_gray"]) < 60 and 10 < float(row["psnr"]) < 60
        assert float(row["psnr_best"]) >= float(row["psnr"])
        assert float(row["colorfulness_orig"]) > 0 and float(row["diversity"]) > 0
        assert float(row["luma_error"]) <= 1
    assert "gray baseline" in out["test"] and "best of 3" in out["test"]
    assert "scored 4 in color" in out["test"]


def test_max_minutes_stops_training_and_saves(pipeline, tmp_path):
    work, *_ = pipeline
    result = run_script("train.py", *TINY[2:], "--epochs", "1000", "--max-minutes", "0.05",
                        "--models", tmp_path, cwd=work)
    assert "(stopped by --max-minutes)" in result.stdout
    assert (tmp_path / config.DECODER_FILE).is_file()


def test_samples_differ_and_seed_reproduces(pipeline, tmp_path):
    work, *_ = pipeline
    run_script("test.py", "--samples", "3", "--seed", "7", "--output", tmp_path / "again", cwd=work)
    run_script("test.py", "--samples", "3", "--seed", "8", "--output", tmp_path / "other", cwd=work)
    first = work / "test_output"
    for name in ("photo0.png", "photo0_3.png"):
        assert (first / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    assert (first / "photo0.png").read_bytes() != (tmp_path / "other" / "photo0.png").read_bytes()
    assert (first / "photo0.png").read_bytes() != (first / "photo0_2.png").read_bytes()


def test_original_project_encoder_variant_trains(pipeline, tmp_path):
    work, *_ = pipeline
    result = run_script("train.py", *TINY, "--encoder-input", "gray", "--models", tmp_path, cwd=work)
    assert "encoder sees gray" in result.stdout
    assert (tmp_path / config.DECODER_FILE).is_file()


def test_bundled_samples_need_no_download(tmp_path):
    result = run_script("cleanup_data.py", "--source", "samples", cwd=tmp_path)
    assert "wrote 11 photos" in result.stdout
    assert len(list((tmp_path / "images").glob("*.png"))) == 11


@pytest.mark.parametrize("script, args, words", [
    ("cleanup_data.py", [], "--source samples"),
    ("cleanup_data.py", ["--size", "7"], "multiple of 16"),
    ("augment_data.py", [], "run cleanup_data.py"),
    ("train.py", [], "run cleanup_data.py"),
    ("train.py", ["--epochs", "0"], "at least 1"),
    ("train.py", ["--max-minutes", "0"], "more than 0"),
    ("test.py", [], "run train.py"),
])
def test_user_mistakes_get_one_clear_line(tmp_path, script, args, words):
    result = run_script(script, *args, cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert words in result.stderr
