"""Where a training step's time goes: TensorFlow's profiler over the default CVAE's steps,
summed by kind of operation (convolutions, their gradients, batch normalization, the z
projections, the optimizer, the input pipeline).

    python bench/profile_training.py                          # this CPU as it is
    ONEDNN_MAX_CPU_ISA=AVX2 python bench/profile_training.py  # as on a CPU without AVX-512

Trains on the shared Mini-ImageNet sample (cleanup and augment into bench/runs/profile/), a few
warm-up steps, then PROFILED_STEPS under the profiler. Op times are the executor's per-op wall
times on its threads, so with 2 threads they can add up to twice the step time.
"""

import os
import shutil
import sys
from collections import defaultdict
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

WARMUP_STEPS, PROFILED_STEPS = 10, 20
# (substring of an op type, the kind it is counted under), first match wins; else "other".
KINDS = [
    ("FusedBatchNorm", "batch normalization (fused kernel) and its gradient"),
    ("BackpropFilter", "convolutions, gradient to their weights"),
    ("BackpropInput", "convolutions, gradient to their inputs"),
    ("Conv2D", "convolutions"),
    ("Relu", "ReLU and its gradient"),
    ("MatMul", "dense layers (z projections, context, encoder head)"),
    ("Concat", "U-Net skips (concatenate and its gradient)"),
    ("Slice", "U-Net skips (concatenate and its gradient)"),
    ("Resize", "upsampling"),
    ("Variable", "optimizer (Adam) and metrics"), ("Apply", "optimizer (Adam) and metrics"),
    ("PyFunc", "input: the color split (numpy, on tf.data's threads)"),
]
# Elementwise ops: the losses, the moving averages, and batch normalization where it runs as
# Keras 3's own layer (mean, variance, scale, shift and their gradients, as in an old checkpoint).
ELEMENTWISE = ("Mul", "Add", "Sub", "RealDiv", "SquaredDifference", "Mean", "Sum", "BroadcastTo",
               "Tile", "Square", "Sqrt", "Rsqrt", "Neg", "Maximum", "Exp", "Log", "Pow")
# Events that wrap the op events on the same thread, not work of their own.
WRAPPERS = ("ExecutorState::", "ParallelFor", "ThreadpoolListener::", "ExecutorDoneCallback",
            "Iterator::", "IteratorGetNextOp", "Prefetch", "ParallelMap")


def kind_of(op_type):
    for part, kind in KINDS:
        if part in op_type:
            return kind
    if any(op_type.removeprefix("_Mkl").removeprefix("Native").startswith(e) for e in ELEMENTWISE):
        return "losses and other elementwise ops"
    return "other"


def prepare_images(work):
    images = work / "images"
    if not any(images.glob("*_crop4.png")):
        prepare_photos(SHARED, images)
    return sorted(images.glob("*.png"))


def op_times(logdir):
    """{op type: seconds} summed over the op events of the profile under logdir, on the
    executor's threads and tf.data's."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals = defaultdict(float)
    for path in Path(logdir).rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            names = {k: m.name for k, m in plane.event_metadata.items()}
            for line in plane.lines:
                if not line.name.startswith(("tf_Compute", "tf_data_private_threadpool")):
                    continue
                for event in line.events:
                    name = names.get(event.metadata_id, "")
                    if name and not name.startswith(WRAPPERS):
                        totals[name.rsplit(":", 1)[-1]] += event.duration_ps / 1e12
    return totals


class ProfileAfter(keras.callbacks.Callback):
    """Starts TensorFlow's profiler after the warm-up steps, inside the same fit."""

    def __init__(self, warmup_steps, logdir):
        super().__init__()
        self.warmup_steps, self.logdir = warmup_steps, logdir

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.warmup_steps:
            tf.profiler.experimental.start(str(self.logdir))


def main():
    if not SHARED.is_dir():
        sys.exit(f"profile_training.py: needs the shared sample at {SHARED}")
    from colorizer import training
    from colorizer.backbone import backbone_model
    from colorizer.data import backbone_maps, make_dataset

    work = REPO / "bench" / "runs" / "profile"
    paths = prepare_images(work)
    settings, model_config = RunConfig(), ModelConfig()
    vae = training.new_model(model_config, settings, paths, tf.distribute.get_strategy(), work)
    # the backbone's maps are read before training, as train.py does: not part of a step
    maps = backbone_maps(backbone_model(model_config.backbone, 112), paths, 112)
    ds = make_dataset(paths, 112, settings.batch_size, shuffle=True, seed=0, maps=maps).repeat()
    logdir = work / "trace"
    shutil.rmtree(logdir, ignore_errors=True)  # op_times sums every profile it finds there
    clock, profiler = StepClock(), ProfileAfter(WARMUP_STEPS, logdir)
    vae.fit(ds, steps_per_epoch=WARMUP_STEPS + PROFILED_STEPS, epochs=1, verbose=0,
            callbacks=[clock, profiler])
    tf.profiler.experimental.stop()
    step_s = settings.batch_size / clock.images_per_s(WARMUP_STEPS, settings.batch_size)

    times = op_times(logdir)
    by_kind = defaultdict(float)
    for op_type, seconds in times.items():
        by_kind[kind_of(op_type)] += seconds / PROFILED_STEPS
    total = sum(by_kind.values())
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "native")
    print(f"\ntraining step, batch {settings.batch_size}, oneDNN ISA {isa}, under the profiler: "
          f"{step_s * 1000:.0f} ms "
          f"wall ({settings.batch_size / step_s:.1f} images/s); op time {total * 1000:.0f} ms "
          f"over the executor's threads\n")
    for kind, seconds in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"{kind:52s} {seconds * 1000:8.1f} ms  {seconds / total:6.1%}")
    others = sorted(((s, t) for t, s in times.items() if kind_of(t) == "other"), reverse=True)
    print("\nlargest in other: " + ", ".join(f"{t} {s / PROFILED_STEPS * 1000:.1f} ms"
                                             for s, t in others[:8]))


if __name__ == "__main__":
    main()
