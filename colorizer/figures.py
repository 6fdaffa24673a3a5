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
    """Tiles (uint8 RGB arrays; a row's tiles may differ in width) on a white sheet, one list
    per row, each row as tall as its tallest tile."""
    widths = [sum(img.shape[1] for img in row) + GAP * (len(row) - 1) for row in rows_of_images]
    heights = [max(img.shape[0] for img in row) for row in rows_of_images]
    sheet = Image.new("RGB", (max(widths), sum(heights) + GAP * (len(heights) - 1)), "white")
    top = 0
    for row, height in zip(rows_of_images, heights):
        left = 0
        for img in row:
            sheet.paste(Image.fromarray(img), (left, top))
            left += img.shape[1] + GAP
        top += height + GAP
    return sheet


def preview_rows(colorizer, imgs_orig, z):
    """Per photo: the gray input, one colorization per row of z (colorizer.inference.Colorizer),
    the original."""
    grays = rgb_to_gray(imgs_orig)
    n = len(z)
    samples = colorizer.colorize(grays, np.tile(z, (len(grays), 1)))
    return [[gray_to_rgb(g), *samples[i * n:(i + 1) * n], img]
            for i, (g, img) in enumerate(zip(grays, imgs_orig))]


def history_rows(csv_path, column):
    """The values of one column of Keras' CSVLogger file, epoch by epoch; none where the file or
    the column is missing, or the logger wrote NA (no validation set)."""
    if not Path(csv_path).is_file():
        return []
    with open(csv_path) as f:
        return [r[column] for r in csv.DictReader(f) if r.get(column, "NA") not in ("NA", "", None)]


def plot_history(csv_path, png_path, kept=None):
    """Loss curves from Keras' CSVLogger file, training and validation, one panel per term; and
    the first colorization of the validation photos, balanced hue hits and PSNR, with kept (the
    epoch from 1 whose decoder is kept, and its hue: BestColorizer.kept) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    with open(csv_path) as f:
        epochs = [int(r["epoch"]) + 1 for r in csv.DictReader(f)]
    terms = ["loss", "reconstruction_loss", "kl_loss"]
    hue = [float(v) for v in history_rows(csv_path, "val_hue")]
    fig, axes = plt.subplots(1, len(terms) + bool(hue), figsize=(4 * (len(terms) + bool(hue)), 3.2))
    for ax, term in zip(axes, terms):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = [float(v) for v in history_rows(csv_path, prefix + term)]
            if values:
                ax.plot(epochs[:len(values)], values, style, label=prefix + term)
        ax.set_title(term.replace("_", " "))
    if hue:
        ax, psnr = axes[-1], [float(v) for v in history_rows(csv_path, "val_psnr")]
        ax.plot(epochs[:len(hue)], hue, "-", color="C2", label="balanced hue hits")
        if kept:
            ax.plot(kept[0], kept[1], "o", color="C2", label=f"kept: epoch {kept[0]}")
        ax.set_title("validation, first colorization")
        right = ax.twinx()
        right.plot(epochs[:len(psnr)], psnr, "--", color="C3", label="PSNR (dB)")
        right.legend(loc="lower right")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="upper right" if ax is not axes[-1] or not hue else "upper left")
    fig.tight_layout()
    with atomic_write(png_path) as f:
        fig.savefig(f, format="png", dpi=80)
    plt.close(fig)


def gallery_html(entries, metrics_by_photo, samples):
    """A static page to compare and choose, opened from the file system with no server: per
    photo a viewer at least 512 px wide whose slider moves between the gray input and the chosen
    colorization, the samples (and the original, if in color) to choose from by a click or the
    arrow keys, a link to the chosen one at full size, and the photo's metrics.
    entries: (title, gray file, [sample files], original file or None); file names are
    relative to the page."""
    sections = "".join(_photo_section(*entry, metrics_by_photo.get(entry[0]), samples)
                       for entry in entries)
    return _PAGE.replace("<!-- sections -->", sections)


def _link(name):
    """A file name as a relative URL inside an HTML attribute, whatever its bytes."""
    return html.escape(quote(os.fsencode(Path(name).as_posix())))


def _photo_section(title, gray, sample_files, original, metrics, samples):
    choices = [(f, f"sample {i + 1}" + (" (z = 0)" if i == 0 else ""))
               for i, f in enumerate(sample_files)]
    if original:
        choices.append((original, "original"))
    thumbs = "".join(
        f'<button type="button" class="choice" data-src="{_link(f)}" '
        f'aria-pressed="{"true" if i == 0 else "false"}"><img src="{_link(f)}" alt="">'
        f'<span>{html.escape(caption)}</span></button>' for i, (f, caption) in enumerate(choices))
    first = _link(sample_files[0])
    return (f'<section tabindex="0"><h2>{html.escape(title)}</h2>'
            f'{_scores_line(metrics, samples) if metrics else ""}'
            f'<div class="viewer"><img class="color" src="{first}" alt="colorization">'
            f'<div class="before"><img src="{_link(gray)}" alt="gray input"></div></div>'
            '<input class="slider" type="range" min="0" max="100" value="50" '
            'aria-label="gray input | colorization">'
            f'<p class="m">gray input ← slider → colorization · <a class="full" href="{first}">'
            f'the chosen one at full size</a></p><div class="choices">{thumbs}</div></section>\n')


def _scores_line(m, samples):
    return (f'<p class="m">PSNR {float(m["psnr"]):.2f} dB (gray {float(m["psnr_gray"]):.2f}, '
            f'best of {samples} {float(m["psnr_best"]):.2f}) · SSIM {float(m["ssim"]):.3f} · '
            f'colorfulness {float(m["colorfulness_first"]):.1f}, mean of all '
            f'{float(m["colorfulness"]):.1f} (original {float(m["colorfulness_orig"]):.1f}) · '
            f'diversity {float(m["diversity"]):.1f} · hue hits {float(m["hue_hits_first"]):.2f}, '
            f'best of {samples} {float(m["hue_hits_best"]):.2f}</p>')


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Colorizations</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; background: #fafafa; }
section { margin-bottom: 2em; max-width: 768px; } h2 { font-size: 15px; margin: 0 0 .3em; }
section:focus { outline: 2px solid #8ab; outline-offset: 6px; }
.viewer { position: relative; width: min(768px, 100%); min-width: 512px; line-height: 0; }
.viewer img { width: 100%; max-height: 85vh; object-fit: contain; display: block; }
.before { position: absolute; inset: 0; clip-path: inset(0 50% 0 0); }
.slider { width: min(768px, 100%); min-width: 512px; margin: .4em 0 0; }
.choices { display: flex; flex-wrap: wrap; gap: .4em; }
.choice { border: 2px solid transparent; background: none; padding: 2px; cursor: pointer;
  font: 12px system-ui, sans-serif; color: #555; }
.choice[aria-pressed=true] { border-color: #358; }
.choice img { width: 112px; display: block; }
.m { color: #555; font-size: 12px; margin: .3em 0; }
</style></head><body>
<h1>Colorizations</h1>
<p class="m">Move a slider to compare a colorization with its gray input; click a sample, or
focus a photo and press &larr; &rarr;, to choose; the link opens the chosen one at full size.</p>
<!-- sections -->
<script>
for (const section of document.querySelectorAll("section")) {
  const choices = [...section.querySelectorAll(".choice")];
  const color = section.querySelector("img.color"), full = section.querySelector("a.full");
  const before = section.querySelector(".before"), slider = section.querySelector(".slider");
  const choose = (i) => {
    choices.forEach((c, j) => c.setAttribute("aria-pressed", String(i === j)));
    color.src = full.href = choices[i].dataset.src;
  };
  choices.forEach((c, i) => c.addEventListener("click", () => choose(i)));
  section.addEventListener("keydown", (e) => {
    if (e.target === slider) return;  // its own arrows move it
    const now = choices.findIndex((c) => c.getAttribute("aria-pressed") === "true");
    const step = {ArrowRight: 1, ArrowLeft: -1}[e.key];
    if (step) { choose((now + step + choices.length) % choices.length); e.preventDefault(); }
  });
  const slide = () => { before.style.clipPath = `inset(0 ${100 - slider.value}% 0 0)`; };
  slider.addEventListener("input", slide);
  slide();
}
</script>
</body></html>
"""
