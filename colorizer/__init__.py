"""Helpers shared by the four scripts: settings, color math, image files, data, model, training
callbacks, metrics, figures."""
