"""The released model in pretrained/ and the photos in test_images/: what ships, what it does on
a fresh clone, and when test.py uses it instead of the user's own."""

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from colorizer import config
from colorizer.config import ModelConfig
from colorizer.color import rgb_to_gray
from colorizer.outputs import read_photo_entries
from conftest import REPO, run_script, stderr_lines

RELEASED = config.PRETRAINED_DIR / config.DECODER_FILE
BUNDLED = REPO / config.TEST_IMAGES_DIR
MAX_MODEL_BYTES, MAX_PHOTO_BYTES = 20_000_000, 5_000_000


def test_the_released_decoder_loads_safely_and_has_test_pys_contract():
    from colorizer.inference import Colorizer

    assert RELEASED.stat().st_size <= MAX_MODEL_BYTES
    assert (config.PRETRAINED_DIR / config.MODEL_CARD).is_file()
    colorizer = Colorizer.load(RELEASED)  # in safe mode
    assert (colorizer.size, colorizer.backbone_name) == (config.IMAGE_SIZE, ModelConfig.backbone)
    size = (colorizer.size, colorizer.size)
    with Image.open(BUNDLED / "chelsea.png") as img:
        photo = np.asarray(img.convert("RGB").resize(size))
    gray = rgb_to_gray(photo)
    assert colorizer.z_regions == config.Z_REGIONS  # test.py's draws point apart region by region
    samples = colorizer.colorize(gray[None], colorizer.prior_z(1, 3, seed=0))
    assert samples.shape == (3, *size, 3) and samples.dtype == np.uint8
    assert np.abs(rgb_to_gray(samples).astype(int) - gray).mean() <= 1  # keeps the gray
    assert (samples.max(-1).astype(int) - samples.min(-1)).mean() > 4  # in color
    assert np.abs(samples[1:].astype(int) - samples[0]).mean() > 1  # the drawn ones differ


def test_decoding_in_small_batches_splits_a_photos_samples_but_yields_whole_photos():
    from colorizer.inference import Colorizer

    colorizer = Colorizer.load(RELEASED)
    grays = np.random.default_rng(0).integers(0, 256, (5, config.IMAGE_SIZE, config.IMAGE_SIZE),
                                               np.uint8)
    z = colorizer.prior_z(len(grays), 3, seed=0)
    # Two colorizations a call: each photo's three samples span two calls.
    batches = list(colorizer.chroma_batches(grays, z, batch_size=2))
    assert [(first, len(chroma)) for first, chroma in batches] == [(i, 3) for i in range(5)]
    whole = colorizer.predict_chroma(grays, z, batch_size=len(z))
    split = np.concatenate([chroma for _, chroma in batches])
    np.testing.assert_allclose(split, whole, atol=1e-5)  # oneDNN's sums run per batch size
    assert np.abs(whole[1::3] - whole[0::3]).mean() > 1e-3  # each sample its own z


def test_bundled_photos_are_small_licensed_and_all_colored_by_the_released_model(tmp_path):
    photos = sorted(p for p in BUNDLED.iterdir() if not p.name.startswith("."))
    assert sum(p.stat().st_size for p in photos) <= MAX_PHOTO_BYTES
    readme = (REPO / "README.md").read_text()
    assert all(p.name in readme for p in photos)  # each one's license is stated there
    # A fresh clone: no models/ of the user's own where test.py runs.
    result = run_script("test.py", "--input", BUNDLED, "--output", tmp_path / "out", "--samples",
                        "2", "--seed", "0", cwd=tmp_path)
    assert "the released model" in result.stdout and stderr_lines(result) == []
    manifest = read_photo_entries(tmp_path / "out")
    assert sorted(e["photo"] for e in manifest) == [p.name for p in photos]
    grays = [e for e in manifest if e["original"] is None]
    assert {e["photo"] for e in grays} >= {"camera.png", "coins.png"}  # true black-and-white
    with open(tmp_path / "out" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(photos) - len(grays)
    # Never seen in training: colored closer than gray on average, on the right hue for a share
    # of the colored pixels that an untrained decoder (about 0) does not reach.
    assert np.mean([float(r["psnr"]) - float(r["psnr_gray"]) for r in rows]) > 0
    assert np.mean([float(r["hue_hits_first"]) for r in rows]) > 0.2


def test_test_py_pixels_are_the_decoders_eager_output_merged_onto_the_gray(tmp_path):
    """What test.py does for speed (a traced graph, batches, threads) changes no pixel."""
    import keras
    import tensorflow as tf

    from colorizer.backbone import backbone_model
    from colorizer.color import merge_resized
    from colorizer.images import open_rgb, square
    from colorizer.inference import prior_z

    samples = 3
    run_script("test.py", "--square", "--input", BUNDLED, "--output", tmp_path / "out",
               "--samples", samples, "--seed", "0", cwd=tmp_path)
    manifest = read_photo_entries(tmp_path / "out")
    decoder = keras.saving.load_model(RELEASED)
    size = config.IMAGE_SIZE  # test.py decodes a JPEG at a reduced scale where it can
    grays = np.stack([rgb_to_gray(np.asarray(square(open_rgb(BUNDLED / e["photo"], size), size)))
                      for e in manifest])
    # The released decoder's z: 16 numbers in 4 regions; it reads EfficientNet-Lite0's maps.
    z = prior_z(len(grays), samples, 16, seed=0, regions=4)
    gray_in = grays[..., None].astype(np.float32)
    backbone = backbone_model("efficientnet-lite0", size)  # once per photo, as test.py runs it
    # Traced, as test.py runs it: TensorFlow fuses its convolutions with their bias and ReLU6 in
    # a graph, which moves its maps by a few 1e-5 and a pixel by a level here and there.
    maps = tf.function(lambda x: backbone(x, training=False))(gray_in)
    condition = {"gray": gray_in, **maps}
    chroma = np.asarray(decoder({"z": z, **{name: np.repeat(x, samples, axis=0)
                                            for name, x in condition.items()}}, training=False))
    for i, entry in enumerate(manifest):
        for s, name in enumerate(entry["samples"]):
            with Image.open(tmp_path / "out" / name) as img:
                assert np.array_equal(np.asarray(img), merge_resized(grays[i], chroma[i * samples + s]))


def test_test_py_prefers_the_users_own_model_and_an_explicit_folder_must_hold_one(tmp_path):
    photo = tmp_path / "in" / "coffee.png"
    photo.parent.mkdir()
    shutil.copy(BUNDLED / "coffee.png", photo)
    (tmp_path / "models").mkdir()
    shutil.copy(RELEASED, tmp_path / "models" / config.DECODER_FILE)  # stands for one trained here
    own = run_script("test.py", "--input", photo, "--output", tmp_path / "out", cwd=tmp_path)
    assert "your model models/main_vae_decoder.keras" in own.stdout
    assert "released" not in own.stdout

    explicit = run_script("test.py", "--input", photo, "--output", tmp_path / "out2", "--models",
                          tmp_path / "in", cwd=tmp_path, check=False)
    assert explicit.returncode != 0 and "released model" not in explicit.stdout
    assert stderr_lines(explicit) == [f"test.py: no model at {tmp_path / 'in' / config.DECODER_FILE}: "
                                      "run train.py first (without --models, test.py uses the "
                                      "released model)"]


def test_train_py_never_writes_into_the_released_models_folder(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((112, 112, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    for target in (config.PRETRAINED_DIR, config.PRETRAINED_DIR / "sub"):
        result = run_script("train.py", "--models", target, "--epochs", "1", cwd=tmp_path,
                            check=False)
        assert result.returncode != 0 and "holds the released model" in result.stderr
    assert sorted(p.name for p in config.PRETRAINED_DIR.iterdir()) == [config.MODEL_CARD,
                                                                        config.DECODER_FILE]


def test_test_py_writes_nothing_to_stderr_as_a_user_runs_it(tmp_path):
    """No log lines of TensorFlow's, which prints some while loading whatever
    TF_CPP_MIN_LOG_LEVEL says: the environment of a user who set none of TensorFlow's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    result = subprocess.run([sys.executable, str(REPO / "test.py"), "--input", BUNDLED / "coffee.png",
                             "--output", tmp_path / "out"], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=600)
    assert result.returncode == 0 and "the released model" in result.stdout
    assert result.stderr == ""
