"""The four scripts end to end, as subprocesses, on a small archive of real photos, tiny model."""

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from colorizer import config
from colorizer.color import rgb_to_gray
from colorizer.images import CROPS_PER_PHOTO, is_crop, open_rgb
from conftest import NO_BACKBONE, REPO, TINY, make_messy_folder, run_script, stderr_lines

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
    code = ("import sys, keras, colorizer.model; m = keras.saving.load_model(sys.argv[1]); "
            "print(m.name, m.count_params(), getattr(m, 'config', ''))")
    result = subprocess.run([sys.executable, "-c", code, str(work / "models" / name)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == name.removesuffix(".keras")
    if name == config.VAE_FILE:  # the whole model carries the settings it was built with
        assert "ModelConfig(size=112, width=8, latent_dim=8, encoder_input='color'" in result.stdout


def test_decoder_loads_without_the_package(pipeline, tmp_path):
    work, *_ = pipeline
    code = ("import sys, keras; m = keras.saving.load_model(sys.argv[1]); "
            "print([tuple(i.shape) for i in m.inputs], tuple(m.outputs[0].shape))")
    result = subprocess.run([sys.executable, "-c", code, str(work / "models" / config.DECODER_FILE)],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # z, the gray, and the backbone's maps at 28, 14 and 7 px
    assert ("(None, 8), (None, 112, 112, 1), (None, 28, 28, 40), (None, 14, 14, 112), "
            "(None, 7, 7, 320)]") in result.stdout and "(None, 112, 112, 2)" in result.stdout


def test_test_writes_samples_in_color_keeping_the_gray(pipeline):
    work, out, *_ = pipeline
    outputs = sorted(p.name for p in (work / "test_output").iterdir())
    expected = [f"{stem}{s}.png" for stem in ("gray", "photo0", "photo1", "photo2", "photo3")
                for s in ("", "_2", "_3")]
    assert outputs == sorted(expected + ["gallery", "index.html", "metrics.csv", "hue.csv",
                                         config.OUTPUTS_FILE])
    for i in range(4):  # each at its own size
        src = next((work / "test_images").glob(f"photo{i}.*"))
        with Image.open(work / "test_output" / f"photo{i}.png") as img:
            assert img.size == open_rgb(src).size and img.mode == "RGB"
            gray_out = np.asarray(img.convert("L"), int)
        gray_in = np.asarray(open_rgb(src).convert("L"), int)
        assert np.abs(gray_out - gray_in).mean() <= 1
    assert "colorized 5 photos x 3 samples" in out["test"]


def test_color_photos_are_scored_beside_the_gray_baseline(pipeline):
    work, out, *_ = pipeline
    with open(work / "test_output" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["photo"] for r in rows) == ["photo0.png", "photo1.jpg", "photo2.png", "photo3.jpg"]
    for row in rows:
        first, mean, best = (float(row[k]) for k in ("psnr", "psnr_mean", "psnr_best"))
        assert best >= first and best > mean  # 3 different samples: the best beats their mean
        assert float(row["colorfulness_orig"]) > 0 and float(row["diversity"]) > 0
        assert float(row["luma_error"]) <= 1
        assert 0 <= float(row["hue_hits_first"]) <= float(row["hue_hits_best"]) <= 1
    with open(work / "test_output" / "hue.csv") as f:
        hue = {r["row"]: r for r in csv.DictReader(f)}
    assert list(hue) == ["first sample", "all samples", "best sample", "floor: one hue",
                         "floor: best random hue"]
    assert 0 < float(hue["floor: one hue"]["balanced_hue_hits"]) < 1
    assert "gray baseline" in out["test"] and "balanced" in out["test"]
    assert "scored 4 in color" in out["test"]


def test_max_minutes_stops_training_and_saves(pipeline, tmp_path):
    work, *_ = pipeline
    # Batches of one, so that the limit nearly always falls inside an epoch, not at its end.
    result = run_script("train.py", *TINY[4:], *NO_BACKBONE, "--batch-size", "1", "--epochs",
                        "1000", "--max-minutes", "0.05", "--models", tmp_path / "models", cwd=work)
    assert "(stopped by --max-minutes)" in result.stdout
    assert (tmp_path / "models" / config.DECODER_FILE).is_file()
    with open(tmp_path / "models" / config.HISTORY_CSV) as f:
        rows = list(csv.DictReader(f))
    state = json.loads((tmp_path / "models" / config.CHECKPOINT_STATE_FILE).read_text())
    # Stopped long before its 1000 epochs; an epoch it stopped inside is logged and saved, not done.
    cut_short = "and part of one" in result.stdout
    assert len(rows) < 100 and state["epochs_done"] == len(rows) - cut_short


def test_training_writes_history_and_preview(pipeline):
    work, *_ = pipeline
    models = work / "models"
    with open(models / config.HISTORY_CSV) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["loss"]) > 0 and float(rows[0]["val_loss"]) > 0
    # too few validation photos to choose an epoch by: the last one's decoder is kept
    assert "val_hue" not in rows[0] and "kept the decoder" not in pipeline[1]["train"]
    with Image.open(models / config.HISTORY_PNG) as img:
        assert img.width > 300 and img.height > 100
    with Image.open(models / config.PREVIEW_PNG) as img:  # gray, 3 samples, original per row
        assert img.width == 5 * 112 + 4 * 4 and (img.height + 4) % (112 + 4) == 0
        tiles = np.asarray(img.convert("RGB"), int)
    gray_tile, sample_tile = tiles[:112, :112], tiles[:112, 116:228]
    assert np.all(gray_tile[..., 0] == gray_tile[..., 1])
    assert np.abs(sample_tile[..., 0] - sample_tile[..., 2]).mean() > 0.5


def test_samples_differ_and_seed_reproduces(pipeline, tmp_path):
    work, *_ = pipeline
    run_script("test.py", "--samples", "3", "--seed", "7", "--output", tmp_path / "again", cwd=work)
    run_script("test.py", "--samples", "3", "--seed", "8", "--output", tmp_path / "other", cwd=work)
    first, other = work / "test_output", tmp_path / "other"
    for name in ("photo0.png", "photo0_3.png"):
        assert (first / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    # The first colorization is the prior's center, whatever the seed; the others are drawn.
    assert (first / "photo0.png").read_bytes() == (other / "photo0.png").read_bytes()
    assert (first / "photo0_2.png").read_bytes() != (other / "photo0_2.png").read_bytes()
    assert (first / "photo0.png").read_bytes() != (first / "photo0_2.png").read_bytes()


def test_original_project_variant_trains_and_colors(pipeline, tmp_path):
    work, *_ = pipeline
    result = run_script("train.py", *TINY, "--encoder-input", "gray", "--backbone", "none",
                        "--models", tmp_path, cwd=work)
    assert "backbone none; encoder sees gray" in result.stdout
    import keras

    encoder = keras.saving.load_model(tmp_path / config.ENCODER_FILE)
    assert [tuple(i.shape) for i in encoder.inputs] == [(None, 112, 112, 1)]  # the gray alone
    decoder = keras.saving.load_model(tmp_path / config.DECODER_FILE)
    assert [tuple(i.shape) for i in decoder.inputs] == [(None, 8), (None, 112, 112, 1)]
    result = run_script("test.py", "--models", tmp_path, "--output", tmp_path / "out", cwd=work)
    assert "colorized" in result.stdout


def test_bundled_samples_need_no_download(tmp_path):
    result = run_script("cleanup_data.py", "--source", "samples", cwd=tmp_path)
    assert "wrote 11 photos" in result.stdout
    assert len(list((tmp_path / "images").glob("*.png"))) == 11


@pytest.mark.parametrize("script, args, words", [
    ("cleanup_data.py", [], "--source samples"),
    ("cleanup_data.py", ["--size", "7"], "multiple of 16"),
    ("cleanup_data.py", ["--size", "100000"], "at most 1024"),
    ("test.py", ["--samples", "1000000"], "at most 100"),
    ("train.py", ["--width", "100000"], "at most 512"),
    ("augment_data.py", [], "run cleanup_data.py"),
    ("train.py", [], "run cleanup_data.py"),
    ("train.py", ["--epochs", "0"], "at least 1"),
    ("train.py", ["--max-minutes", "0"], "above 0"),
    ("train.py", ["--seed", "-1"], "between 0 and"),
    ("test.py", ["--seed", "-1"], "between 0 and"),
    ("test.py", ["--temperature", "inf"], "finite"),
    ("test.py", ["--temperature", "nan"], "finite"),
    ("train.py", ["--zero-z", "1.5"], "between 0 and 1"),
    ("test.py", ["--models", "empty"], "run train.py"),
    ("test.py", ["--samples", "0"], "at least 1"),
    ("cleanup_data.py", ["--source", "empty", "--output", "out"], "holds no files"),
])
def test_user_mistakes_get_one_clear_line(tmp_path, script, args, words):
    (tmp_path / "empty").mkdir()
    result = run_script(script, *args, cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert words in result.stderr


def test_test_colors_every_readable_photo_of_a_messy_folder(pipeline, color_photos, tmp_path):
    work, *_ = pipeline
    good, gray, bad = make_messy_folder(tmp_path / "messy", color_photos[:12], flat=True)
    result = run_script("test.py", "--input", tmp_path / "messy", "--output", tmp_path / "out",
                        cwd=work)
    written = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert len(written) == len(good) + len(gray)  # photo.jpg and photo.png both kept
    for path in (tmp_path / "out").glob("*.png"):
        with Image.open(path) as img:
            assert img.mode == "RGB" and min(img.size) >= 112
    lines = stderr_lines(result)
    assert len(lines) == len(bad)
    for rel in bad:
        assert any(rel.name in line for line in lines), rel
    assert f"colorized {len(good) + len(gray)} photos" in result.stdout


def largest_photos(n):
    from conftest import real_photo_paths

    def pixels(path):
        with Image.open(path) as img:
            return img.width * img.height
    return sorted(real_photo_paths(), key=pixels)[-n:]


def test_photos_keep_their_size_and_brightness(pipeline, tmp_path):
    work, *_ = pipeline
    (tmp_path / "in").mkdir()
    photos = largest_photos(2)
    for path in photos:
        shutil.copy(path, tmp_path / "in" / path.name)
    run_script("test.py", "--samples", "2", "--input", tmp_path / "in",
               "--output", tmp_path / "out", cwd=work)
    for path in photos:
        img_orig = open_rgb(path)
        gray_in = rgb_to_gray(np.asarray(img_orig)).astype(int)
        for name in (f"{path.stem}.png", f"{path.stem}_2.png"):
            with Image.open(tmp_path / "out" / name) as img:
                assert img.size == img_orig.size and img.mode == "RGB"
                gray_out = rgb_to_gray(np.asarray(img)).astype(int)
        assert np.abs(gray_out - gray_in).mean() <= 2


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_the_gallery_compares_and_chooses_in_a_real_browser(pipeline, tmp_path):
    """Opened from the file system: each photo large, a slider between its gray input and a
    colorization, samples chosen by a click or a key, a link to the chosen one at full size."""
    from playwright.sync_api import sync_playwright

    work, *_ = pipeline
    page_path = work / "test_output" / "index.html"
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        loaded = page.eval_on_selector_all("img", "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
        section = page.locator("section").first
        viewer_width = section.locator(".viewer").bounding_box()["width"]
        clip = lambda: section.locator(".before").evaluate("e => e.style.clipPath")
        halfway = clip()
        section.locator(".slider").fill("20")  # 20 % gray on the left, the rest in color
        moved = clip()
        color = lambda: section.locator("img.color").evaluate("i => i.src.split('/').pop()")
        full = lambda: section.locator("a.full").evaluate("a => a.href.split('/').pop()")
        first = color()
        section.locator(".choice").nth(2).click()  # the third sample
        clicked, clicked_link = color(), full()
        section.focus()
        page.keyboard.press("ArrowLeft")
        keyed = color()
        text = page.inner_text("body")
        browser.close()
    assert errors == [] and loaded
    assert viewer_width >= 512
    assert halfway == "inset(0px 50% 0px 0px)" and moved == "inset(0px 80% 0px 0px)"
    # The first photo (by name) is gray.png, three samples of it.
    assert (first, clicked, clicked_link, keyed) == ("gray.png", "gray_3.png", "gray_3.png",
                                                     "gray_2.png")
    assert "photo0.png" in text and "PSNR" in text and "original" in text


def test_download_without_network_gets_one_line(tmp_path):
    closed_port = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                   "NO_PROXY": ""}  # refused at once, on this machine: nothing leaves it
    result = run_script("cleanup_data.py", "--download", cwd=tmp_path, check=False, env=closed_port)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(stderr_lines(result)) == 1 and "could not download" in result.stderr
    assert not (tmp_path / "archive" / "ImageNet-Mini").exists()


@pytest.mark.parametrize("script, make, args, words", [
    ("test.py", "empty_dir", ["--input", "{p}"], "no readable photos"),
    ("test.py", None, ["--input", "{p}"], "no photo or folder"),
    ("test.py", "empty_dir", ["--input", "{p}", "--output", "{p}"], "apart from the photos"),
    ("test.py", "empty_dir", ["--input", "{p}", "--output", "{p}/out"], "apart from the photos"),
    ("test.py", "empty_dir", ["--input", "{p}/in", "--output", "{p}"], "apart from the photos"),
    ("test.py", "file", ["--output", "{p}"], "is a file"),
    ("train.py", "file", ["--models", "{p}"], "is a file"),
    ("train.py", None, ["--models", "images"], "is the images folder"),
    ("cleanup_data.py", "file", ["--source", "samples", "--output", "{p}"], "is a file"),
    ("cleanup_data.py", "empty_dir", ["--source", "{p}", "--output", "{p}"], "inside one another"),
    ("cleanup_data.py", "empty_dir", ["--source", "{p}", "--output", "{p}/out"], "inside one another"),
    ("augment_data.py", "empty_dir", ["--images", "{p}"], "run cleanup_data.py"),
])
def test_more_mistakes_get_one_clear_line(pipeline, tmp_path, script, make, args, words):
    work, *_ = pipeline
    target = tmp_path / "target"
    if make == "empty_dir":
        target.mkdir()
    elif make == "file":
        target.write_text("not a folder")
    result = run_script(script, *[a.format(p=target) for a in args], cwd=work, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(stderr_lines(result)) == 1 and words in result.stderr
