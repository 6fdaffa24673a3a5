"""The model learns: trained on one photo for a few dozen steps, it colors that photo closer to
the original than the gray does, with the right hues; its loss is what its settings say."""

import csv
import json
import os

import numpy as np
from PIL import Image

from colorizer import config
from colorizer.color import rgb_to_chroma
from colorizer.metrics import colorfulness
from colorizer.scripts import prepare_photos
from conftest import run_script
from colorizer.config import ModelConfig, RunConfig

COPIES, EPOCHS = 12, 5  # 60 images of one photo, batches of 4: 15 steps an epoch


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


def test_a_model_trained_on_one_photo_colors_it_closer_than_gray(color_photos, tmp_path):
    img = max(color_photos[:20], key=lambda p: colorfulness(p[:200, :200]))
    (tmp_path / "photo").mkdir()
    Image.fromarray(img).save(tmp_path / "photo" / "photo.png")
    prepare_photos(tmp_path / "photo", tmp_path / "images")
    images = sorted((tmp_path / "images").iterdir())
    for copy in range(1, COPIES):  # more steps per epoch: epochs' checkpoints and plots cost more
        for path in images:
            os.link(path, path.with_name(f"copy{copy}-{path.name}"))
    log = run_script("train.py", "--epochs", str(EPOCHS), "--batch-size", "4", "--width", "8",
                     cwd=tmp_path)
    assert "backbone efficientnet-lite0" in log.stdout
    with open(tmp_path / "models" / config.HISTORY_CSV) as f:
        rates = [float(row["learning_rate"]) for row in csv.DictReader(f)]
    assert len(rates) == EPOCHS and rates == sorted(rates, reverse=True)
    settings = RunConfig()
    assert rates[0] > 0.9 * settings.learning_rate and rates[-1] < 1.1 * settings.final_learning_rate
    run_script("test.py", "--input", tmp_path / "photo", "--samples", "2", "--seed", "0",
               "--square", cwd=tmp_path)  # the crop it learned from
    with open(tmp_path / "test_output" / "metrics.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["psnr"]) > float(row["psnr_gray"]) + 1
    assert float(row["hue_hits_first"]) > 0.25  # an untrained decoder scores about 0
    assert float(row["colorfulness_first"]) > 0.15 * float(row["colorfulness_orig"])
    assert np.isfinite(float(row["tint_share"]))


def test_z_shifts_every_pixel_alike_and_z_0_shifts_nothing():
    import keras

    from colorizer.model import build_decoder

    keras.utils.set_random_seed(0)
    decoder = build_decoder(ModelConfig(size=32, width=4, latent_dim=4, backbone="none"))
    view = keras.Model(decoder.inputs, [decoder.get_layer("bottleneck").output,
                                        decoder.get_layer("bottleneck_plus_z").output])
    gray = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 1)).astype("float32")
    for z, moves in [(np.zeros((1, 4), "float32"), False), (np.ones((1, 4), "float32"), True)]:
        conv, shifted = view({"z": z, "gray": gray})
        shift = keras.ops.convert_to_numpy(shifted - conv)[0]  # (2, 2, 32): what z changes
        assert (np.abs(shift).max() > 1e-3) == moves
        assert np.allclose(shift, shift[:1, :1], atol=1e-6)


def test_a_regions_part_of_z_moves_that_region_only_on_both_sides():
    import keras

    from colorizer.backbone import map_shapes
    from colorizer.model import build_cvae

    keras.utils.set_random_seed(0)
    vae = build_cvae(ModelConfig(size=32, width=4, latent_dim=4, z_regions=2, rebalance_mix=1))
    maps = {name: np.zeros((1, *shape), "float32")
            for name, shape in map_shapes("efficientnet-lite0", 32).values()}
    region_map = maps["lite0_stride16"]  # the map at 1/8 of the size
    region_map[:, :, :2, 0], region_map[:, :, 2:, 0] = 10, -10  # left and right halves differ...
    logits = vae.decoder.get_layer("z_regions_logits")
    kernel = np.zeros(logits.kernel.shape, "float32")
    kernel[0, 0, 0] = [1, -1]  # ...and are told apart: region 0 on the left, region 1 right
    logits.set_weights([kernel, np.zeros(2, "float32")])
    gray = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 1)).astype("float32")
    view = keras.Model(vae.decoder.inputs, [vae.decoder.get_layer("up3_conv").output,
                                            vae.decoder.get_layer("up3_conv_plus_z").output])
    for z, left, right in [([0, 0, 0, 0], False, False), ([1, 1, 0, 0], True, False),
                           ([0, 0, 1, 1], False, True)]:
        conv, shifted = view({"z": np.array([z], "float32"), "gray": gray, **maps})
        shift = np.abs(keras.ops.convert_to_numpy(shifted - conv))[0]  # (4, 4, 16)
        assert (shift[:, :2].max() > 1e-3) == left and (shift[:, 2:].max() > 1e-3) == right
    # The encoder reads the same regions: with region 0 everywhere, the colors move its z only.
    region_map[..., 0] = 10
    condition = {name: keras.ops.convert_to_tensor(x) for name, x in {"gray": gray, **maps}.items()}
    chromas = (np.zeros((1, 32, 32, 2)), np.random.default_rng(1).uniform(-0.5, 0.5, (1, 32, 32, 2)))
    z_means = [keras.ops.convert_to_numpy(vae.encoder(vae.encoder_inputs(
        condition, keras.ops.convert_to_tensor(c, "float32")))[0]) for c in chromas]
    assert not np.allclose(z_means[0][:, :2], z_means[1][:, :2], atol=1e-3)
    assert np.allclose(z_means[0][:, 2:], z_means[1][:, 2:], atol=1e-5)


def test_the_loss_is_the_squared_error_plus_the_weighted_kl():
    from colorizer.model import build_cvae

    # A KL weight so large that a KL weighed otherwise shows against the reconstruction.
    model_config = ModelConfig(size=32, width=4, latent_dim=2, zero_z=0, kl_weight=1e4,
                               backbone="none", rebalance_mix=1)
    vae = build_cvae(model_config, seed=0)
    rng = np.random.default_rng(0)
    gray = rng.uniform(0, 255, (3, 32, 32, 1)).astype("float32")
    chroma = rng.uniform(-0.5, 0.5, (3, 32, 32, 2)).astype("float32")
    total, reconstruction, kl = map(float, vae._elbo_terms(({"gray": gray}, chroma),
                                                           training=False))
    assert reconstruction > 0 and kl > 0
    assert np.isclose(total, reconstruction + 1e4 * kl, rtol=1e-5)


def test_rebalancing_weighs_each_pixel_by_its_colors_rarity(color_photos):
    from colorizer.color import chroma_bin
    from colorizer.model import build_cvae

    chroma = rgb_to_chroma(color_photos[0][:32, :32])[None]
    core = {"size": 32, "width": 4, "zero_z": 0, "backbone": "none"}
    plain = build_cvae(ModelConfig(**core, rebalance_mix=1), seed=0, chroma=chroma)
    weighed = build_cvae(ModelConfig(**core, rebalance_mix=0.5), seed=0,
                         chroma=chroma)
    assert plain.chroma_weights is None and len(weighed.chroma_weights) == 256
    weights = np.asarray(weighed._pixel_weights(chroma))[0, ..., 0]
    assert np.array_equal(weights, np.asarray(weighed.chroma_weights)[chroma_bin(chroma[0])])


def test_the_decoder_kept_is_the_epoch_that_colored_the_validation_photos_best(color_photos,
                                                                                tmp_path):
    import keras

    from colorizer.callbacks import BestColorizer
    from colorizer.config import DECODER_FILE, ENCODER_FILE
    from colorizer.inference import Colorizer
    from colorizer.metrics import first_colorization_scores
    from colorizer.model import build_cvae

    imgs_val = np.stack([photo[:32, :32] for photo in color_photos])
    vae = build_cvae(ModelConfig(size=32, width=4, latent_dim=4, backbone="none",
                                 rebalance_mix=1), seed=0)
    head = vae.decoder.get_layer("chroma_half")

    def paint(angle):  # the decoder paints one flat hue
        head.set_weights([np.zeros(head.kernel.shape, "float32"),
                          np.arctanh(0.3 * np.array([np.cos(angle), np.sin(angle)], "float32"))])

    def epoch_end(keeper, epoch, angle):
        paint(angle)
        logs = {"loss": 1.0}
        keeper.on_epoch_end(epoch, logs)
        assert np.isfinite(logs["val_psnr"])
        return logs["val_hue"]

    # A first pass scores four hues on these photos; the epochs then paint them in an order
    # that puts the best second, so that neither the first epoch nor the last is the one kept.
    (tmp_path / "scout").mkdir()
    scout = BestColorizer(tmp_path / "scout", imgs_val)
    scout.set_model(vae)
    angles = np.radians([20, 110, 200, 300])
    low, *middle, high = angles[np.argsort([epoch_end(scout, 0, a) for a in angles])]
    keeper = BestColorizer(tmp_path, imgs_val)
    keeper.set_model(vae)
    hues, weights = [], []
    for epoch, angle in enumerate([low, high, *middle]):
        hues.append(epoch_end(keeper, epoch, angle))
        weights.append(vae.decoder.get_weights())
    best = int(np.argmax(hues))
    assert best == 1 and hues.count(hues[best]) == 1  # the epochs differ where it matters
    assert BestColorizer.kept(tmp_path)[:2] == (best + 1, hues[best])
    kept = Colorizer.load(tmp_path / DECODER_FILE)
    assert all(np.array_equal(a, b) for a, b in zip(kept.decoder.get_weights(), weights[best]))
    out = kept.colorize(keeper.grays, kept.prior_z(len(imgs_val), 1))
    assert np.isclose(first_colorization_scores(out, imgs_val)[0], hues[best])
    assert (tmp_path / ENCODER_FILE).is_file()
    assert keras.saving.load_model(tmp_path / ENCODER_FILE) is not None


def test_an_epoch_is_chosen_only_on_enough_validation_photos(color_photos, tmp_path):
    import tensorflow as tf

    from colorizer import training
    from colorizer.callbacks import BestColorizer
    from colorizer.config import DECODER_FILE, VAE_FILE
    from colorizer.model import build_cvae

    paths = []
    for i in range(40):
        paths.append(tmp_path / "images" / f"photo{i}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(color_photos[i % len(color_photos)][i:i + 32, :32]).save(paths[-1])
    model_config = ModelConfig(size=32, width=4, latent_dim=4, backbone="none", rebalance_mix=1)
    settings = RunConfig()
    vae = build_cvae(model_config, seed=0)
    strategy = tf.distribute.get_strategy()
    for val_paths, chooses in ((paths[:settings.selection_min_photos - 1], False),
                               (paths[:settings.selection_min_photos], True)):
        models = tmp_path / f"models{len(val_paths)}"
        _, callbacks = training.make_callbacks(settings, model_config, models, strategy,
                                               paths, val_paths, 0)
        keepers = [c for c in callbacks if isinstance(c, BestColorizer)]
        assert len(keepers) == chooses
        training.save_models(vae, models, callbacks)  # the chosen decoder is left as it was
        assert (models / VAE_FILE).is_file() and (models / DECODER_FILE).is_file() != chooses


def test_a_new_run_keeps_its_own_epoch_and_a_resumed_one_the_best_of_both(tmp_path):
    """An earlier run's choice must not outlive it: a new run into the same folder starts
    afresh, while a resumed run's epochs must beat the epoch kept before, even where that epoch
    was cut short and its row of history.csv dropped to be done again."""
    import tensorflow as tf

    from colorizer import training
    from colorizer.callbacks import BestColorizer
    from colorizer.config import HISTORY_CSV, KEPT_FILE

    model_config = ModelConfig(size=32, width=4, latent_dim=4, backbone="none", rebalance_mix=1)
    settings = RunConfig()
    paths = []
    for i in range(settings.selection_min_photos):
        paths.append(tmp_path / "images" / f"photo{i}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), (i * 7, 100, 200 - i), np.uint8)).save(paths[-1])
    models = tmp_path / "models"
    models.mkdir()
    # an earlier run: two epochs done, the third cut short with the best hue, its decoder kept
    (models / HISTORY_CSV).write_text("epoch,loss,val_hue,val_psnr\n0,9,0.3,20\n1,8,0.4,21\n"
                                      "2,7,0.5,22\n")
    (models / KEPT_FILE).write_text(json.dumps({"epoch": 3, "val_hue": 0.5, "val_psnr": 22}))
    strategy = tf.distribute.get_strategy()

    def keeper(epochs_done):
        _, callbacks = training.make_callbacks(settings, model_config, models, strategy, paths,
                                               paths, epochs_done)
        return next(c for c in callbacks if isinstance(c, BestColorizer))

    resumed = keeper(epochs_done=2)
    assert resumed.best == 0.5 and BestColorizer.kept(models) == (3, 0.5, 22.0)
    assert "2,7" not in (models / HISTORY_CSV).read_text()  # the cut-short epoch is done again
    assert keeper(epochs_done=0).best is None
    assert BestColorizer.kept(models) is None and not (models / KEPT_FILE).exists()
