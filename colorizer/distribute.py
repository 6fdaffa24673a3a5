"""tf.distribute for train.py: the GPUs of one machine (mirrored) or of several machines
(multiworker, configured by the standard TF_CONFIG). The global batch is split across the replicas."""

import tensorflow as tf


def make_strategy(name, cpu_devices=1):
    """The strategy to build and train the model under; create it before any other TF work.

    With no GPU, mirrored splits the CPU into cpu_devices logical devices, so the mirrored
    path runs (and is tested) on any machine.
    """
    if name == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpu = tf.config.list_physical_devices("CPU")[0]
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
