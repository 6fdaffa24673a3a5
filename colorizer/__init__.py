"""Helpers shared by the four scripts: settings, color math, image files, data, model, training
callbacks, metrics, figures."""

import os

# TensorFlow's oneDNN kernels: 2 times the training rate here (AMD EPYC), 3 times as oneDNN runs on
# a CPU without AVX-512, and 1.5 times the decoder's (docs/speed.md). TensorFlow leaves them off
# on CPUs it does not list (this AMD, most laptops) and reads this once, when first imported;
# colorizer is imported first. Their rounding differs from Eigen's in the 7th digit. 0 turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
