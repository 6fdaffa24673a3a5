"""Speed benchmark: the machine's peak, training, test.py and cleanup_data.py throughput, memory.

    python bench/speed.py           # about 2 minutes on 2 CPU cores

Builds a 19,600-image training set (the size of the real augmented dataset) from the shared
Mini-ImageNet sample: cleanup, augment, then hard links under new names up to 19,600.
"""

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer.config import SHARED_SAMPLE_DIR as SHARED  # noqa: E402
TRAIN_IMAGES = 19_600
WARMUP_STEPS, TIMED_STEPS = 5, 40
DECODER_COLORIZATIONS = 2048


def run(*args):
    start = time.perf_counter()
    subprocess.run([sys.executable, *map(str, args)], check=True, capture_output=True)
    return time.perf_counter() - start


def peak_gflops(tf):
    """The best of a large matmul and a large 3×3 convolution, float32, in GFLOP/s."""
    a = tf.random.normal((2048, 2048))
    x, k = tf.random.normal((64, 56, 56, 64)), tf.random.normal((3, 3, 64, 64))
    cases = [(tf.function(lambda: tf.matmul(a, a)), 2 * 2048**3),
             (tf.function(lambda: tf.nn.conv2d(x, k, 1, "SAME")), 2 * 64 * 56 * 56 * 9 * 64 * 64)]
    best = 0
    for fn, flops in cases:
        fn().numpy()
        start = time.perf_counter()
        for _ in range(10):
            out = fn()
        out.numpy()
        best = max(best, 10 * flops / (time.perf_counter() - start) / 1e9)
    return best


def forward_flops(model):
    """Multiply-adds × 2 of the Conv2D and Dense layers of a functional model, per image."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2 * h * w * kh * kw * layer.input.shape[-1] * c_out
        elif kind == "Dense":
            total += 2 * layer.input.shape[-1] * layer.units
    return total


def main():
    if not SHARED.is_dir():
        sys.exit(f"speed.py: needs the shared sample at {SHARED}")
    work = REPO / "bench" / "runs" / "speed"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cleanup_s = run(REPO / "cleanup_data.py", "--source", SHARED, "--output", work / "images")
    n_shared = sum(1 for _ in SHARED.glob("*/*"))
    run(REPO / "augment_data.py", "--images", work / "images")
    base = sorted((work / "images").glob("*.png"))
    for i in range(TRAIN_IMAGES - len(base)):
        os.link(base[i % len(base)], work / "images" / f"copy{i:05d}-{base[i % len(base)].name}")

    import keras
    import tensorflow as tf

    import test  # this repository's test.py, first on sys.path
    import train
    from colorizer.data import make_dataset
    from colorizer.images import list_images
    from colorizer.model import build_cvae

    peak = peak_gflops(tf)
    vae = build_cvae(112, train.LATENT_DIM, train.WIDTH, "color", train.KL_WEIGHT, 0)
    vae.compile(optimizer=keras.optimizers.Adam(train.LEARNING_RATE))
    per_image = 3 * (forward_flops(vae.encoder) + forward_flops(vae.decoder))  # fwd + 2× bwd
    paths = list_images(work / "images")
    ds = make_dataset(paths, 112, train.BATCH_SIZE, shuffle=True, seed=0)
    fill_start = time.perf_counter()
    for _ in ds:  # one pass fills the uint8 cache: the memory of a real run
        pass
    fill_s = time.perf_counter() - fill_start
    vae.fit(ds.repeat(), steps_per_epoch=WARMUP_STEPS, epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    vae.fit(ds.repeat(), steps_per_epoch=TIMED_STEPS, epochs=1, verbose=0, shuffle=False)
    train_ips = TIMED_STEPS * train.BATCH_SIZE / (time.perf_counter() - start)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    vae.decoder.save(work / "main_vae_decoder.keras")

    # The decoder alone, as test.py calls it: the ceiling of test.py's throughput.
    z = np.zeros((DECODER_COLORIZATIONS, train.LATENT_DIM), np.float32)
    gray = np.zeros((DECODER_COLORIZATIONS, 112, 112, 1), np.float32)
    batch = test.BATCH_SIZE
    vae.decoder.predict([z[:batch], gray[:batch]], batch_size=batch, verbose=0)
    start = time.perf_counter()
    vae.decoder.predict([z, gray], batch_size=batch, verbose=0)
    decode_cps = DECODER_COLORIZATIONS / (time.perf_counter() - start)
    decode_flops = forward_flops(vae.decoder)

    one = work / "one"
    one.mkdir()
    shutil.copy(next(SHARED.glob("*/*")), one)
    t_one = run(REPO / "test.py", "--input", one, "--output", work / "out1", "--models", work,
                "--samples", 8, "--seed", 0)
    flat = work / "all"
    flat.mkdir()
    for path in SHARED.glob("*/*"):
        os.symlink(path, flat / path.name)
    t_all = run(REPO / "test.py", "--input", flat, "--output", work / "out", "--models", work,
                "--samples", 8, "--seed", 0)
    test_cps = (n_shared - 1) * 8 / (t_all - t_one)

    print(f"\nspeed on {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}\n")
    print(f"{'measured peak (best of matmul 2048², conv 3×3 64→64)':58s} {peak:9.1f} GFLOP/s")
    print(f"{'model FLOPs per training image (forward + backward)':58s} {per_image / 1e9:9.2f} GFLOP")
    print(f"{'training throughput, 19,600-image set, batch 32':58s} {train_ips:9.1f} images/s")
    print(f"{'  achieved / peak':58s} {train_ips * per_image / 1e9 / peak:9.0%}")
    print(f"{'  decoding and caching the 19,600 PNGs once':58s} {fill_s:9.1f} s")
    print(f"{'training peak memory (RSS)':58s} {rss_gb:9.2f} GB")
    print(f"{'test.py --samples 8, once loaded':58s} {test_cps:9.1f} colorizations/s")
    print(f"{f'  the decoder alone, batch {batch}':58s} {decode_cps:9.1f} colorizations/s")
    print(f"{'  decoder FLOPs per colorization; achieved / peak':58s} {decode_flops / 1e9:9.2f} GFLOP"
          f" {decode_cps * decode_flops / 1e9 / peak:5.0%}")
    print(f"{'test.py start-up and one photo (whole process)':58s} {t_one:9.1f} s")
    print(f"{'cleanup_data.py on the {0} shared JPEGs (whole process)'.format(n_shared):58s} "
          f"{n_shared / cleanup_s:9.1f} images/s")


if __name__ == "__main__":
    main()
