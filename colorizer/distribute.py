"""tf.distribute for train.py: the GPUs of one machine (mirrored) or of several machines
(multiworker, configured by the standard TF_CONFIG). The global batch is split across the replicas."""

import json
import os
import signal
import subprocess
import sys

import tensorflow as tf

# A test hook: with no GPU, mirrored splits the CPU into this many logical devices, so the
# mirrored path runs (and is tested) on any machine.
CPU_DEVICES_VARIABLE = "COLORIZER_CPU_DEVICES"
# How long a worker of a cluster waits for the others to come, in seconds (a test shortens it).
WORKER_WAIT_VARIABLE, WORKER_WAIT_S = "COLORIZER_WORKER_WAIT", 600


class ClusterError(Exception):
    """TF_CONFIG is malformed: one line for the user."""


def cluster_peers():
    """The other workers TF_CONFIG names, as "worker 1 at host:port" strings; ClusterError where
    TF_CONFIG is missing or malformed."""
    try:
        tf_config = json.loads(os.environ["TF_CONFIG"])
        workers, task = tf_config["cluster"]["worker"], tf_config["task"]
        index = int(task["index"])
        if task["type"] != "worker" or not 0 <= index < len(workers):
            raise ValueError(f"task {task} is not one of the {len(workers)} workers")
    except KeyError as err:
        raise ClusterError(f"TF_CONFIG is missing or lacks {err}") from None
    except (ValueError, TypeError, AttributeError) as err:
        raise ClusterError(f"TF_CONFIG is malformed ({err})") from None
    return [f"worker {i} at {address}" for i, address in enumerate(workers) if i != index]


# Watches a worker that waits for its cluster. TensorFlow waits holding the GIL, deaf to
# signals, so nothing in the worker can time it out or answer a signal: the worker holds SIGINT
# and SIGTERM back (hold_signals, before TensorFlow starts its threads) and this process, seeing
# one pending or the time up, says so in one line and ends the worker.
_WATCHDOG = """
import os, select, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches this process too: the worker's
worker, wait_s, waiting, script = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]

def pending():
    with open(f"/proc/{worker}/status") as f:
        held = int(next(l for l in f if l.startswith("ShdPnd:")).split()[1], 16)
    return next((s for s in (signal.SIGINT, signal.SIGTERM) if held >> (s - 1) & 1), None)

for _ in range(int(wait_s / 0.2) + 1):
    if select.select([sys.stdin], [], [], 0.2)[0]:
        sys.exit(0 if sys.stdin.read(2) == "ok" else f"{script}: stopped while waiting for {waiting}")
    if sig := pending():
        os.kill(worker, signal.SIGKILL)
        sys.exit(f"{script}: interrupted by {sig.name} while waiting for {waiting}")
os.kill(worker, signal.SIGKILL)
sys.exit(f"{script}: {waiting} did not come within {wait_s:g} s: start {script} on every "
         "machine of TF_CONFIG, with the same cluster")
"""
HELD = {signal.SIGINT, signal.SIGTERM}


def multiworker_strategy(on_wait=print, script="train.py"):
    """MultiWorkerMirroredStrategy, once every worker of TF_CONFIG has come, or one line from
    the watchdog (a signal, or WORKER_WAIT_S passed) and the end of the process. The signals
    must be held (colorizer.cli.hold_signals) since before TensorFlow was imported; they are
    let through again here."""
    waiting = ", ".join(cluster_peers())
    on_wait(f"waiting for {waiting} (TF_CONFIG)")
    wait_s = float(os.environ.get(WORKER_WAIT_VARIABLE, WORKER_WAIT_S))
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(wait_s),
                                 waiting, script], stdin=subprocess.PIPE, text=True)
    handlers = {s: signal.getsignal(s) for s in HELD}
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    watchdog.communicate("ok")
    for s, handler in handlers.items():  # TensorFlow's own SIGTERM handler does not stop it
        signal.signal(s, handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)
    return strategy


def make_strategy(name, on_wait=print):
    """The strategy to build and train the model under; create it before any other TF work.
    on_wait: told whom a worker of a cluster waits for."""
    if name == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpu = tf.config.list_physical_devices("CPU")[0]
        cpu_devices = int(os.environ.get(CPU_DEVICES_VARIABLE, "1"))
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "multiworker":
        return multiworker_strategy(on_wait)
    return tf.distribute.get_strategy()


def is_multiworker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy):
    """Whether this process writes the models: always, except on the non-chief workers of a cluster."""
    return strategy.extended.should_checkpoint


def worker_name(strategy):
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type} {resolver.task_id}"


def any_worker(strategy, flags):
    """flags (a list of 0/1) summed over all workers, so that every worker decides alike."""
    if not is_multiworker(strategy):
        return flags
    summed = strategy.reduce("SUM", strategy.run(lambda: tf.constant(flags, tf.int32)), axis=None)
    return [int(n) for n in summed.numpy()]


def mean_over_workers(strategy, value):
    """A number averaged over all workers, so that every worker uses the same one."""
    if not is_multiworker(strategy):
        return value
    return float(strategy.reduce("MEAN", strategy.run(lambda: tf.constant(value, tf.float32)),
                                 axis=None))


class MultiWorkerFixes:
    """What a keras.Model with its own train_step needs under MultiWorkerMirroredStrategy in
    Keras 3.15 (tensorflow/tensorflow#72388): a model built without a first data batch, and
    logs Keras can average across workers."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras first averages a data batch over the replicas, which fails under multiworker.
        # The model is built in __init__ and needs no batch: this builds what is left, the
        # optimizer.
        with self.distribute_strategy.scope():
            self._symbolic_build()

    def metric_logs(self):
        """{name: value} of self.metrics, for train_step and test_step to return."""
        logs = {m.name: m.result() for m in self.metrics}
        if is_multiworker(self.distribute_strategy):
            # Keras averages logs across workers along axis 0, which a scalar lacks.
            logs = {name: tf.reshape(value, (1,)) for name, value in logs.items()}
        return logs
