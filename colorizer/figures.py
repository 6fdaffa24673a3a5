"""What users look at: the training preview grid, the loss plot, the gallery page."""

import csv
import html
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np
from PIL import Image

from .color import gray_to_rgb, rgb_to_gray
from .files import atomic_write

GAP = 4  # pixels between tiles


def grid(rows_of_images):
    """Tiles (lists of uint8 RGB arrays of one size) on a white sheet, one list per row."""
    h, w = rows_of_images[0][0].shape[:2]
    n_cols = max(len(r) for r in rows_of_images)
    sheet = Image.new("RGB", (n_cols * (w + GAP) - GAP, len(rows_of_images) * (h + GAP) - GAP),
                      "white")
    for r, row in enumerate(rows_of_images):
        for c, img in enumerate(row):
            sheet.paste(Image.fromarray(img), (c * (w + GAP), r * (h + GAP)))
    return sheet


def preview_rows(colorizer, imgs_orig, z):
    """Per photo: the gray input, one colorization per row of z (colorizer.inference.Colorizer),
    the original."""
    grays = rgb_to_gray(imgs_orig)
    n = len(z)
    samples = colorizer.colorize(grays, np.tile(z, (len(grays), 1)))
    return [[gray_to_rgb(g), *samples[i * n:(i + 1) * n], img]
            for i, (g, img) in enumerate(zip(grays, imgs_orig))]


def plot_history(csv_path, png_path):
    """Loss curves from Keras' CSVLogger file: training and validation, one panel per term."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    terms = ["loss", "reconstruction_loss", "kl_loss"]
    fig, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.2))
    for ax, term in zip(axes, terms):
        for prefix, style in (("", "-"), ("val_", "--")):
            # CSVLogger writes NA for validation terms when there was no validation set
            values = [float(r[prefix + term]) for r in rows if r.get(prefix + term, "NA") != "NA"]
            if values:
                ax.plot(epochs[:len(values)], values, style, label=prefix + term)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(term.replace("_", " "))
        ax.legend()
    fig.tight_layout()
    with atomic_write(png_path) as f:
        fig.savefig(f, format="png", dpi=80)
    plt.close(fig)


def gallery_html(entries, metrics_by_photo, samples):
    """A static page: per photo the gray input, the samples and the original (if in color),
    with its metrics. entries: (title, gray file, [sample files], original file or None);
    file names are relative to the page."""
    link = lambda name: html.escape(quote(os.fsencode(Path(name).as_posix())))  # any bytes
    cells = []
    for title, gray, sample_files, original in entries:
        figs = [(gray, "gray input")] + [(f, f"sample {i + 1}" + (" (z = 0)" if i == 0 else ""))
                                        for i, f in enumerate(sample_files)]
        if original:
            figs.append((original, "original"))
        imgs = "".join(f'<figure><img src="{link(f)}" alt="{html.escape(cap)}">'
                       f"<figcaption>{html.escape(cap)}</figcaption></figure>" for f, cap in figs)
        m = metrics_by_photo.get(title)
        scores = ("" if m is None else
                  f'<p class="m">PSNR {float(m["psnr"]):.2f} dB (gray {float(m["psnr_gray"]):.2f}, '
                  f'best of {samples} {float(m["psnr_best"]):.2f}) · SSIM {float(m["ssim"]):.3f} · '
                  f'colorfulness {float(m["colorfulness_first"]):.1f}, mean of all '
                  f'{float(m["colorfulness"]):.1f} (original '
                  f'{float(m["colorfulness_orig"]):.1f}) · diversity {float(m["diversity"]):.1f} · '
                  f'hue hits {float(m["hue_hits_first"]):.2f}, best of {samples} '
                  f'{float(m["hue_hits_best"]):.2f}</p>')
        cells.append(f"<section><h2>{html.escape(title)}</h2>{scores}<div>{imgs}</div></section>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Colorizations</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; background: #fafafa; }}
section {{ margin-bottom: 1.5em; }} h2 {{ font-size: 15px; margin: 0 0 .3em; }}
figure {{ display: inline-block; margin: 0 .4em .4em 0; text-align: center; }}
img {{ width: 168px; image-rendering: auto; display: block; }}
figcaption, .m {{ color: #555; font-size: 12px; margin: .2em 0; }}
</style></head><body>
<h1>Colorizations</h1>
{"".join(cells)}
</body></html>
"""
