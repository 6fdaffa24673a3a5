"""The model learns: trained on one photo for a few dozen steps, it colors that photo closer to
the original than the gray does, with the right hues, with either chroma loss; its label head
learns the classes of labels.csv."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from colorizer import config
from colorizer.color import chroma_bin_centers, rgb_to_chroma
from colorizer.metrics import colorfulness
from conftest import REPO, run_script
from train import FINAL_LEARNING_RATE, LEARNING_RATE, MIN_CLASS_PHOTOS

COPIES, EPOCHS = 12, 5  # 60 images of one photo, batches of 4: 15 steps an epoch


def test_class_targets_split_each_chroma_so_their_mean_is_it(color_photos):
    from keras import ops

    from colorizer.model import class_targets

    chroma = rgb_to_chroma(color_photos[0][:64, :64])[None]
    targets = ops.convert_to_numpy(class_targets(chroma))
    assert targets.shape == (1, 64, 64, len(chroma_bin_centers()))
    assert np.allclose(targets.sum(-1), 1) and (targets >= 0).all()
    assert (targets > 0).sum(-1).max() <= 4  # the two nearest centers on each axis
    edge = chroma_bin_centers().max()  # beyond the outer centers, the nearest one
    assert np.allclose(targets @ chroma_bin_centers(), np.clip(chroma, -edge, edge), atol=1e-5)


def test_fused_batch_normalization_computes_what_keras_does():
    import keras
    import tensorflow as tf

    from colorizer.model import FusedBatchNormalization, with_builtin_layers

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(3, 2, (8, 28, 28, 16)), tf.float32)
    upstream = tf.constant(rng.normal(0, 1, x.shape), tf.float32)
    gamma, beta = rng.normal(1, 0.3, 16), rng.normal(0, 0.3, 16)
    results = []
    # momentum 0: the moving statistics are this batch's, so any difference in them shows
    for norm in [keras.layers.BatchNormalization(momentum=0), FusedBatchNormalization(momentum=0)]:
        norm.build(x.shape)
        norm.gamma.assign(gamma)
        norm.beta.assign(beta)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = norm(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x, norm.gamma, norm.beta])
        results.append([y, *grads, norm.moving_mean, norm.moving_variance, norm(x)])
    for keras_value, fused_value in zip(*results):
        keras_value, fused_value = np.asarray(keras_value), np.asarray(fused_value)
        assert np.abs(fused_value - keras_value).max() <= 1e-4 * np.abs(keras_value).max()

    inputs = keras.Input((28, 28, 16))
    model = keras.Model(inputs, FusedBatchNormalization(name="norm")(inputs))
    model.get_layer("norm").moving_mean.assign(np.arange(16.0))
    plain = with_builtin_layers(model)
    assert type(plain.get_layer("norm")) is keras.layers.BatchNormalization
    assert np.array_equal(plain(x), model(x))


@pytest.mark.parametrize("chroma_loss", config.CHROMA_LOSSES)
def test_a_model_trained_on_one_photo_colors_it_closer_than_gray(color_photos, tmp_path,
                                                                  chroma_loss):
    img = max(color_photos[:20], key=lambda p: colorfulness(p[:200, :200]))
    (tmp_path / "photo").mkdir()
    Image.fromarray(img).save(tmp_path / "photo" / "photo.png")
    run_script("cleanup_data.py", "--source", tmp_path / "photo", cwd=tmp_path)
    run_script("augment_data.py", cwd=tmp_path)
    images = sorted((tmp_path / "images").iterdir())
    for copy in range(1, COPIES):  # more steps per epoch: epochs' checkpoints and plots cost more
        for path in images:
            os.link(path, path.with_name(f"copy{copy}-{path.name}"))
    log = run_script("train.py", "--epochs", str(EPOCHS), "--batch-size", "4", "--width", "8",
                     "--chroma-loss", chroma_loss, cwd=tmp_path)
    assert f"{chroma_loss} loss" in log.stdout
    with open(tmp_path / "models" / config.HISTORY_CSV) as f:
        rates = [float(row["learning_rate"]) for row in csv.DictReader(f)]
    assert len(rates) == EPOCHS and rates == sorted(rates, reverse=True)
    assert rates[0] > 0.9 * LEARNING_RATE and rates[-1] < 1.1 * FINAL_LEARNING_RATE
    run_script("test.py", "--input", tmp_path / "photo", "--samples", "2", "--seed", "0",
               cwd=tmp_path)
    with open(tmp_path / "test_output" / "metrics.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["psnr"]) > float(row["psnr_gray"]) + 1
    assert float(row["hue_hits_first"]) > 0.25  # an untrained decoder scores about 0
    assert float(row["colorfulness_first"]) > 0.15 * float(row["colorfulness_orig"])
    assert np.isfinite(float(row["tint_share"]))


def test_label_loss_is_the_cross_entropy_of_the_labelled_photos():
    from keras import ops

    from colorizer.model import build_cvae

    vae = build_cvae(32, 2, 4, "color", "squared", kl_weight=0.3, zero_z=0, chroma_weights=None,
                     seed=0, label_names=["beach", "forest"], label_weight=10.0)
    rng = np.random.default_rng(0)
    gray = rng.uniform(0, 255, (3, 32, 32, 1)).astype("float32")
    chroma = rng.uniform(-0.5, 0.5, (3, 32, 32, 2)).astype("float32")
    vae.label_head.bias.assign([2.0, -1.0])  # unequal classes: a wrong formula shows
    labels = np.array([0, 1, -1], "int32")  # the third photo has no class: it adds nothing
    total, reconstruction, kl, label_loss = map(
        float, vae._elbo_terms((gray, chroma, labels), training=False))
    logits = ops.convert_to_numpy(vae((gray, chroma))[3])
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert np.isclose(label_loss, -(log_p[0, 0] + log_p[1, 1]) / 2, rtol=1e-5)
    assert np.isclose(total, reconstruction + 0.3 * kl + 10 * label_loss, rtol=1e-5)


def test_a_label_head_trains_on_the_source_folders_and_reloads(color_photos, tmp_path):
    per_class = MIN_CLASS_PHOTOS + 2  # one photo may go to validation
    for i in range(2 * per_class):
        folder = tmp_path / "source" / ("beach", "forest")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(color_photos[i % len(color_photos)]).save(folder / f"p{i}.jpg")
    run_script("cleanup_data.py", "--source", tmp_path / "source", cwd=tmp_path)
    log = run_script("train.py", "--epochs", "2", "--batch-size", "8", "--width", "8",
                     "--label-weight", "30", cwd=tmp_path)
    assert "label head on 2 classes, weight 30" in log.stdout
    with open(tmp_path / "models" / config.HISTORY_CSV) as f:
        rows = list(csv.DictReader(f))
    assert all(0 < float(row["label_loss"]) < 5 for row in rows)
    code = ("import sys, keras, colorizer.model; m = keras.saving.load_model(sys.argv[1]); "
            "print(m.label_names, m.label_weight)")
    loaded = subprocess.run([sys.executable, "-c", code, str(tmp_path / "models" / config.VAE_FILE)],
                            cwd=REPO, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip().splitlines()[-1] == "['beach', 'forest'] 30.0"


def test_classes_with_too_few_training_photos_are_not_learned(capsys):
    from argparse import Namespace
    from pathlib import Path

    from colorizer.images import crop_name
    from train import label_names

    photos = [Path(f"{kind}{i}-00000000.png") for kind, n in [("dog", MIN_CLASS_PHOTOS),
                                                              ("cat", MIN_CLASS_PHOTOS - 1)]
              for i in range(n)]
    labels = {p.name: p.stem.rstrip("0123456789-") for p in photos}
    paths = photos + [Path(crop_name(p, k)) for p in photos for k in range(1, 5)]  # crops: no count
    args = Namespace(label_weight=30.0, images="images")
    assert label_names(args, paths, {**labels, "bird0-00000000.png": "bird"}) is None
    assert "--label-weight ignored" in capsys.readouterr().out
    labels.update({f"cat{MIN_CLASS_PHOTOS}-00000000.png": "cat"})
    paths.append(Path(f"cat{MIN_CLASS_PHOTOS}-00000000.png"))
    assert label_names(args, paths, labels) == ["cat", "dog"]
    assert label_names(Namespace(label_weight=0.0, images="images"), paths, labels) is None


@pytest.mark.parametrize("z_options", [{}, {"z_grid": 2}, {"z_regions": 3}, {"z_gain": True}])
def test_z_shifts_all_pixels_alike_unless_by_grid_regions_or_gain(z_options):
    import keras

    from colorizer.model import build_decoder

    keras.utils.set_random_seed(0)
    decoder = build_decoder(32, 4, 4, **z_options)
    view = keras.Model(decoder.inputs, [decoder.get_layer("bottleneck").output,
                                        decoder.get_layer("bottleneck_plus_z").output])
    gray = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 1)).astype("float32")
    for z, moves in [(np.zeros((1, 4), "float32"), False), (np.ones((1, 4), "float32"), True)]:
        conv, shifted = view([z, gray])
        shift = keras.ops.convert_to_numpy(shifted - conv)[0]  # (2, 2, 32): what z changes
        assert (np.abs(shift).max() > 1e-3) == moves
        if moves:
            pixels_differ = not np.allclose(shift[0, 0], shift[-1, -1], atol=1e-6)
            assert pixels_differ == bool(z_options)


def test_z_grid_and_z_regions_are_one_line_together(tmp_path, color_photos):
    Image.fromarray(color_photos[0]).resize((112, 112)).save(tmp_path / "p.png")
    log = run_script("train.py", "--images", tmp_path, "--z-grid", "2", "--z-regions", "2",
                     cwd=tmp_path, check=False)
    assert log.returncode == 1 and log.stderr.strip().splitlines() == [
        "train.py: --z-grid and --z-regions are two ways z reaches the decoder: choose one"]


@pytest.mark.parametrize("options, summary", [
    (["--z-grid", "2", "--z-gain"], "latent 8 through a 2x2 grid, scaling the features"),
    (["--z-regions", "3"], "latent 8 through 3 regions;")])
def test_a_z_grid_regions_or_gain_model_trains_resumes_and_colors(options, summary,
                                                                  color_photos, tmp_path):
    (tmp_path / "photos").mkdir()
    for i, img in enumerate(color_photos[:6]):
        Image.fromarray(img).save(tmp_path / "photos" / f"p{i}.png")
    run_script("cleanup_data.py", "--source", tmp_path / "photos", cwd=tmp_path)
    tiny = ["--batch-size", "4", "--width", "8"]
    log = run_script("train.py", "--epochs", "1", *options, *tiny, cwd=tmp_path)
    assert summary in log.stdout
    log = run_script("train.py", "--epochs", "2", "--resume", *tiny, cwd=tmp_path)
    assert summary.split(" through")[1] in log.stdout and "resuming after epoch 1" in log.stdout
    run_script("test.py", "--input", tmp_path / "photos", "--samples", "3", cwd=tmp_path)
    assert len(list((tmp_path / "test_output").glob("p0*.png"))) == 3


def test_z_regions_are_the_decoders_masks_read_by_the_encoder_too():
    import keras
    import tensorflow as tf

    from colorizer.model import REGIONS, build_cvae

    keras.utils.set_random_seed(0)
    vae = build_cvae(32, 4, 4, "color", "squared", 0.3, 0.5, None, 0, z_regions=3)
    assert (vae.z_regions, vae.z_grid, vae.encoder_input) == (3, 1, "color")
    assert vae.encoder.get_layer("regions").output.shape[1:] == (2, 2, 3)
    rng = np.random.default_rng(0)
    gray = rng.uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    chroma = rng.uniform(-0.5, 0.5, (2, 32, 32, 2)).astype("float32")
    masks = vae.decoder.get_layer(REGIONS).kernel
    with tf.GradientTape() as tape:
        z_mean = vae((gray, chroma))[1]
    assert np.abs(tape.gradient(z_mean, masks).numpy()).max() > 0  # the encoder reads them
