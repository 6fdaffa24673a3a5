"""tf.distribute for train.py: the GPUs of one machine (mirrored). The global batch is split
across the replicas."""

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
    return tf.distribute.get_strategy()
