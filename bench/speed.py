"""Speed benchmark: the machine's peak, training, test.py and cleanup_data.py throughput, memory,
for the default model (with its backbone) and for --backbone none, on this CPU as it is and as
oneDNN uses a CPU without AVX-512 (ONEDNN_MAX_CPU_ISA=AVX2).

    python bench/speed.py           # about 20 minutes on 2 CPU cores

Each CPU kind runs in its own process: builds a 19,600-image training set (the size of the real
augmented dataset) from the shared Mini-ImageNet sample (cleanup, augment, then hard links under
new names), and measures the peak before and after its runs and what share of the CPU other
processes took meanwhile, so that a busy machine is told from a slow program.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer.config import SHARED_SAMPLE_DIR as SHARED  # noqa: E402
from colorizer import import_keras  # noqa: E402
from colorizer.config import DECODER_FILE, ModelConfig, RunConfig  # noqa: E402
from colorizer.scripts import run_script  # noqa: E402
from step_clock import StepClock  # noqa: E402

keras = import_keras()  # without TensorFlow's load-time log lines
TRAIN_IMAGES = 19_600
WARMUP_STEPS, TIMED_STEPS = 5, 40
DECODER_COLORIZATIONS = 2048


def timed(script, *args):
    """Seconds one of the four scripts takes, whole process."""
    start = time.perf_counter()
    run_script(script, *args)
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
    """Multiply-adds × 2 of the convolutions and Dense layers of a functional model, per image."""
    if model is None:
        return 0
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("Conv2D", "DepthwiseConv2D"):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            per_output = layer.input.shape[-1] if kind == "Conv2D" else 1
            total += 2 * h * w * kh * kw * per_output * c_out
        elif kind == "Dense":
            total += 2 * layer.input.shape[-1] * layer.units
    return total


def cpu_busy_seconds():
    """CPU seconds spent busy on this machine so far, all processes, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU seconds of this process and the scripts it ran."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


VARIANTS = {"none": ModelConfig(backbone="none"), "backbone": ModelConfig()}


def measure():
    """Every figure of the table on the CPU kind oneDNN uses in this process, as a dict: the
    machine's, then each variant's under its name."""
    work = REPO / "bench" / "runs" / "speed"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    start_wall, start_busy, start_own = time.perf_counter(), cpu_busy_seconds(), own_cpu_seconds()

    import tensorflow as tf

    figures = {"peak_before": peak_gflops(tf)}
    cleanup_s = timed("cleanup_data.py", "--source", SHARED, "--output", work / "images")
    n_shared = sum(1 for _ in SHARED.glob("*/*"))
    figures["cleanup_ips"] = n_shared / cleanup_s
    run_script("augment_data.py", "--images", work / "images")
    base = sorted((work / "images").glob("*.png"))
    links = [(work / "images" / f"copy{i:05d}-{base[i % len(base)].name}", base[i % len(base)])
             for i in range(TRAIN_IMAGES - len(base))]
    for link, path in links:
        os.link(path, link)
    # the test photos: one, all in color (scored), all in black and white (nothing to score)
    (work / "one").mkdir()
    shutil.copy(next(SHARED.glob("*/*")), work / "one")
    (work / "all").mkdir()
    (work / "gray").mkdir()
    for path in SHARED.glob("*/*"):
        os.symlink(path, work / "all" / path.name)
        with Image.open(path) as img:
            img.convert("L").save(work / "gray" / f"{path.stem}.png", compress_level=1)
    for name, model_config in VARIANTS.items():  # none first: the memory peak is its own
        figures[name] = measure_variant(model_config, base, links, work, work / name)
    figures["peak_after"] = peak_gflops(tf)
    wall = time.perf_counter() - start_wall
    others = (cpu_busy_seconds() - start_busy) - (own_cpu_seconds() - start_own)
    figures["others_share"] = max(0.0, others) / (wall * os.cpu_count())
    figures["n_shared"], figures["tf"] = n_shared, tf.__version__
    return figures


def measure_variant(model_config, base, links, work, models):
    """Training and test.py figures of one model: the training set is base (distinct images)
    and links ((hard link, its image) pairs), read as train.py reads them."""
    import tensorflow as tf

    from colorizer import training
    from colorizer.backbone import backbone_model
    from colorizer.data import backbone_maps, make_dataset
    from colorizer.inference import Colorizer

    settings = RunConfig()
    figures = {}
    backbone = backbone_model(model_config.backbone, 112)
    figures["backbone_flops"] = forward_flops(backbone)
    # the backbone reads each distinct image once, as train.py does; a copy's maps are its own
    start = time.perf_counter()
    maps = backbone_maps(backbone, base, 112)
    figures["maps_ips"] = len(base) / (time.perf_counter() - start) if maps else 0
    figures["maps_kb"] = (sum(m.codes.nbytes + m.scale.nbytes for m in maps.values())
                          / len(base) / 1e3)
    index = {path: i for i, path in enumerate(base)}
    rows = np.array([*range(len(base)), *(index[path] for _, path in links)])
    paths = base + [link for link, _ in links]
    vae = training.new_model(model_config, settings, base, tf.distribute.get_strategy(), models)
    figures["train_flops"] = 3 * (forward_flops(vae.encoder) + forward_flops(vae.decoder))
    ds = make_dataset(paths, 112, settings.batch_size, shuffle=True, seed=0,
                      maps={name: m[rows] for name, m in maps.items()})
    fill_start = time.perf_counter()
    for _ in ds:  # one pass over the input: every PNG decoded, as each epoch does
        pass
    figures["fill_s"] = time.perf_counter() - fill_start
    clock = StepClock()
    vae.fit(ds.repeat(), steps_per_epoch=WARMUP_STEPS + TIMED_STEPS, epochs=1, verbose=0,
            shuffle=False, callbacks=[clock])
    figures["train_ips"] = clock.images_per_s(WARMUP_STEPS, settings.batch_size)
    figures["rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    models.mkdir()
    training.save_models(vae, models)

    # The backbone and decoder alone, as test.py calls them: the ceiling of test.py's rate.
    colorizer = Colorizer(vae.decoder)
    z = np.zeros((DECODER_COLORIZATIONS, model_config.latent_dim), np.float32)
    grays = np.zeros((DECODER_COLORIZATIONS // 8, 112, 112), np.uint8)
    colorizer.predict_chroma(grays[:32], z[:256])
    start = time.perf_counter()
    colorizer.predict_chroma(grays, z)
    figures["decode_cps"] = DECODER_COLORIZATIONS / (time.perf_counter() - start)
    figures["decode_flops"] = forward_flops(vae.decoder) + figures["backbone_flops"] / 8
    figures["decoder_mb"] = (models / DECODER_FILE).stat().st_size / 1e6

    n_photos = sum(1 for _ in (work / "all").iterdir())
    test = ("--models", models, "--samples", 8, "--seed", 0)
    figures["test_one_s"] = timed("test.py", "--input", work / "one",
                                  "--output", models / "out1", *test)
    for key, folder in (("test_cps", "all"), ("test_gray_cps", "gray")):
        seconds = timed("test.py", "--input", work / folder, "--output", models / f"out_{folder}",
                        *test)
        figures[key] = (n_photos - 1) * 8 / (seconds - figures["test_one_s"])
    return figures


MACHINE_ROWS = [  # label, key, format, unit
    ("measured peak, before / after the runs", None, None, "GFLOP/s"),
    ("other processes' share of the CPU during the runs", "others_share", "{:.0%}", ""),
    ("cleanup_data.py on the shared JPEGs (whole process)", "cleanup_ips", "{:.1f}", "images/s"),
]
ROWS = [
    ("backbone FLOPs per image (forward, once per image)", "backbone_flops", "{:.2f}", "GFLOP"),
    ("  the backbone reading the training images", "maps_ips", "{:.1f}", "images/s"),
    ("  its maps of an image, as the cache keeps them", "maps_kb", "{:.1f}", "KB"),
    ("model FLOPs per training image (forward + backward)", "train_flops", "{:.2f}", "GFLOP"),
    ("training throughput, 19,600-image set, batch 32", "train_ips", "{:.1f}", "images/s"),
    ("  achieved / peak", "train_share", "{:.0%}", ""),
    ("  one pass over the input (the 19,600 PNGs decoded)", "fill_s", "{:.1f}", "s"),
    ("training peak memory (RSS)", "rss_gb", "{:.2f}", "GB"),
    ("test.py --samples 8, once loaded", "test_cps", "{:.1f}", "colorizations/s"),
    ("  backbone and decoder alone, as test.py calls them", "decode_cps", "{:.1f}",
     "colorizations/s"),
    ("  FLOPs per colorization (8 a photo)", "decode_flops", "{:.2f}", "GFLOP"),
    ("  test.py / backbone and decoder alone", "test_share", "{:.0%}", ""),
    ("test.py --samples 8 on them in black and white (unscored)", "test_gray_cps", "{:.1f}",
     "colorizations/s"),
    ("  test.py / backbone and decoder alone", "test_gray_share", "{:.0%}", ""),
    ("  backbone and decoder achieved / peak", "decode_share", "{:.0%}", ""),
    ("test.py start-up and one photo (whole process)", "test_one_s", "{:.1f}", "s"),
    ("decoder file", "decoder_mb", "{:.1f}", "MB"),
]


def derived(f, peak):
    return {**f, "train_flops": f["train_flops"] / 1e9, "backbone_flops": f["backbone_flops"] / 1e9,
            "train_share": f["train_ips"] * f["train_flops"] / 1e9 / peak,
            "test_share": f["test_cps"] / f["decode_cps"],
            "test_gray_share": f["test_gray_cps"] / f["decode_cps"],
            "decode_flops": f["decode_flops"] / 1e9,
            "decode_share": f["decode_cps"] * f["decode_flops"] / 1e9 / peak}


def main():
    if not SHARED.is_dir():
        sys.exit(f"speed.py: needs the shared sample at {SHARED}")
    if "--one-isa" in sys.argv:  # the child: measure on this process's CPU kind, print JSON
        print(json.dumps(measure()))
        return
    machines = {}
    for name, isa in (("native", None), ("AVX2", "AVX2")):
        env = {**os.environ, **({"ONEDNN_MAX_CPU_ISA": isa} if isa else {})}
        out = subprocess.run([sys.executable, __file__, "--one-isa"], env=env, check=True,
                             capture_output=True, text=True).stdout
        machines[name] = json.loads(out.strip().splitlines()[-1])
    native = machines["native"]
    print(f"\nspeed on {os.cpu_count()} CPU cores, TensorFlow {native['tf']}, "
          f"{native['n_shared']} shared JPEGs\n")
    print(f"{'':56s} {'native':>15s} {'AVX2':>15s} {'AVX2/native':>12s}")
    for label, key, fmt, unit in MACHINE_ROWS:
        if key is None:
            cells = [f"{m['peak_before']:.0f} / {m['peak_after']:.0f}" for m in machines.values()]
            key = "peak_before"
        else:
            cells = [fmt.format(m[key]) for m in machines.values()]
        print(f"{label:56s} {cells[0]:>15s} {cells[1]:>15s} "
              f"{machines['AVX2'][key] / native[key]:>12.2f}  {unit}")
    columns = [(isa, variant, derived(m[variant], (m["peak_before"] + m["peak_after"]) / 2))
               for isa, m in machines.items() for variant in VARIANTS]
    print(f"\n{'':56s} " + " ".join(f"{f'{isa}, {v}':>16s}" for isa, v, _ in columns)
          + " " + " ".join(f"{f'{isa}: bb/none':>14s}" for isa in machines))  # backbone / none
    for label, key, fmt, unit in ROWS:
        cells = [fmt.format(c[key]) for _, _, c in columns]
        ratios = [f"{b[key] / n[key]:.2f}" if n[key] else "" for (_, _, n), (_, _, b)
                  in zip(columns[::2], columns[1::2])]
        print(f"{label:56s} " + " ".join(f"{c:>16s}" for c in cells) + " "
              + " ".join(f"{r:>14s}" for r in ratios) + f"  {unit}")
    for name, m in machines.items():
        drift = abs(m["peak_after"] - m["peak_before"]) / max(m["peak_before"], m["peak_after"])
        if drift > 0.10 or m["others_share"] > 0.10:
            print(f"warning: {name}: the peak moved {drift:.0%} and other processes took "
                  f"{m['others_share']:.0%} of the CPU: the machine was busy, rerun when idle")


if __name__ == "__main__":
    main()
