"""Training's rate alone, images a second, as train.py feeds the default CVAE: its input (PNGs
decoded per batch, the backbone's cached maps) and its steps, without the profiler or the other
figures of bench/speed.py, so that two versions of the input can be compared in minutes.

    python bench/train_rate.py                             # 3 rounds on this CPU as it is
    ONEDNN_MAX_CPU_ISA=AVX2 python bench/train_rate.py     # as on a CPU without AVX-512

Trains on the shared Mini-ImageNet sample (cleanup and augment into bench/runs/profile/, shared
with bench/profile_training.py); the backbone reads the images once, then each round is a fit of
WARMUP_STEPS + TIMED_STEPS steps on a new iterator, timed over its last TIMED_STEPS. To compare
with another version of the code, run the same file in a checkout of it, round for round.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer.config import SHARED_SAMPLE_DIR as SHARED  # noqa: E402
from colorizer import import_keras  # noqa: E402
from colorizer.config import ModelConfig, RunConfig  # noqa: E402
from colorizer.scripts import prepare_photos  # noqa: E402

keras = import_keras()  # without TensorFlow's load-time log lines
import tensorflow as tf  # noqa: E402
from step_clock import StepClock  # noqa: E402

WARMUP_STEPS, TIMED_STEPS = 20, 50


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"train_rate.py: needs the shared sample at {SHARED}")
    from colorizer import training
    from colorizer.backbone import backbone_model
    from colorizer.data import backbone_maps, make_dataset

    images = REPO / "bench" / "runs" / "profile" / "images"
    if not any(images.glob("*_crop4.png")):
        prepare_photos(SHARED, images)
    paths = sorted(images.glob("*.png"))
    settings, model_config = RunConfig(), ModelConfig()
    vae = training.new_model(model_config, settings, paths, tf.distribute.get_strategy(),
                             images.parent)
    maps = backbone_maps(backbone_model(model_config.backbone, 112), paths, 112)
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "native")
    for round_ in range(args.rounds):
        ds = make_dataset(paths, 112, settings.batch_size, shuffle=True, seed=round_, maps=maps)
        clock = StepClock()
        vae.fit(ds.repeat(), steps_per_epoch=WARMUP_STEPS + TIMED_STEPS, epochs=1, verbose=0,
                callbacks=[clock])
        print(f"round {round_ + 1}: {clock.images_per_s(WARMUP_STEPS, settings.batch_size):.1f} "
              f"images/s (oneDNN ISA {isa}, {len(paths)} images, batch {settings.batch_size})",
              flush=True)


if __name__ == "__main__":
    main()
