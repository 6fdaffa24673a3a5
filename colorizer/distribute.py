"""tf.distribute for train.py: the GPUs of one machine (mirrored) or of several machines
(multiworker, configured by the standard TF_CONFIG). The global batch is split across the replicas."""

import os

import tensorflow as tf

# A test hook: with no GPU, mirrored splits the CPU into this many logical devices, so the
# mirrored path runs (and is tested) on any machine.
CPU_DEVICES_VARIABLE = "COLORIZER_CPU_DEVICES"


def make_strategy(name):
    """The strategy to build and train the model under; create it before any other TF work."""
    if name == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpu = tf.config.list_physical_devices("CPU")[0]
        cpu_devices = int(os.environ.get(CPU_DEVICES_VARIABLE, "1"))
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
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
