"""Colorize every photo in test_images/ (or one photo) with the trained decoder, into test_output/.

    python test.py
    python test.py --samples 4 --seed 0    # four different colorizations of each, reproducible
    python test.py --input photo.jpg       # one photo

Each photo is center-cropped and resized to the model's size (112×112), turned to gray, and
colored: test_output/<stem>.png from z = 0, the center of the prior (the model's most typical
colorization), then <stem>_2.png … <stem>_N.png from z drawn around it where N(0, τ² I) has its
mass (τ = --temperature), in directions that point apart (colorizer.inference.prior_z).
With --full-res the whole photo is colored at its own size: the model sees it squeezed to
112×112, and the predicted color is resized and laid onto the full-resolution gray.
test_output/index.html shows every photo: gray input, samples, original, scores.
Photos in color are also scored against their cropped original, beside the gray baseline:
per-photo rows in test_output/metrics.csv, hue hits per hue sector in test_output/hue.csv (with
two floors: one hue for every photo, and the best of N random hues), and a table of means.
Grayscale photos are only colored. test_output/outputs.json lists each photo's files; the next
run into the same folder removes those it (the photos' files, the page and the tables) does not
write again, and nothing else. The output folder is never the photos' own.
Needs only models/main_vae_decoder.keras (and, for a decoder that reads a backbone, the installed
package holding the backbone's weights, colorizer.backbone); without one (and without --models)
it colors with the released model in pretrained/, and says so.
"""

import argparse
import contextlib
import fcntl
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from colorizer import config, import_keras
from colorizer.cli import (Interruption, path_option, positive_float, positive_int, run,
                           seed, up_to)
from colorizer.color import is_grayscale, merge_resized, rgb_to_gray
from colorizer.figures import gallery_html
from colorizer.files import printable, save_png, save_text
from colorizer.inference import chroma_batches, prior_z, z_regions
from colorizer.images import (UNREADABLE, folders_overlap, open_rgb, square, unreadable_reason,
                              unusable_reason)
from colorizer.metrics import (RANDOM_FLOOR_SEED, csv_text, hue_csv_text, hue_rates, score_photo,
                               shrink, summary_table)
from colorizer.outputs import (REPORTS, foreign_files, output_stems, photo_files, read_manifest,
                               write_manifest)

THREADS = min(4, os.cpu_count())  # photos read or finished at once; each costs memory at full size
# Memory one photo takes while colored at its own size, per pixel: the photo, its gray, the
# chroma resized to it (float32), one sample and the PNG encoder's copy (measured: docs/speed.md).
FULL_RES_BYTES_PER_PIXEL = 24


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=config.TEST_IMAGES_DIR, type=path_option,
                   help="folder of photos to colorize, or one photo")
    p.add_argument("--output", default=config.TEST_OUTPUT_DIR, type=path_option,
                   help="folder for the results")
    p.add_argument("--models", default=None, type=path_option,
                   help=f"folder with {config.DECODER_FILE}; default {config.MODELS_DIR}/, or "
                        "the released model where that holds none")
    p.add_argument("--samples", type=up_to(positive_int, config.MAX_SAMPLES),
                   default=config.SAMPLES, help="colorizations per photo")
    p.add_argument("--seed", type=seed, default=None, help="same seed, same pixels")
    p.add_argument("--temperature", type=up_to(positive_float, 10), default=config.TEMPERATURE,
                   help="spread of the drawn samples' z: lower is safer, higher is bolder")
    p.add_argument("--full-res", action="store_true",
                   help="color the whole photo at its own size instead of a 112x112 crop")
    return p


def main():
    args = build_parser().parse_args()
    input_path, output_dir = Path(args.input), Path(args.output)
    decoder_path = choose_decoder(args.models)
    check_output_folder(input_path, output_dir)
    candidates = input_photos(input_path, output_dir)
    decoder = load_decoder(decoder_path)
    latent_dim, size = decoder.inputs[0].shape[-1], decoder.inputs[1].shape[1]
    with output_lock(output_dir), Interruption() as interruption:
        paths, imgs_small, grays_small = load_inputs(candidates, size, args.full_res)
        if not paths:
            sys.exit(f"test.py: no readable photos in {input_path}")
        z = prior_z(len(paths), args.samples, latent_dim, args.seed, args.temperature,
                    z_regions(decoder))
        stems = claim_names(output_dir, paths, args.samples)
        interruption.writing = True
        finished = colorize_and_write(decoder, paths, imgs_small, grays_small, z, stems,
                                      output_dir, interruption)
        scored = write_reports(finished, args.samples, output_dir)
    interruption.raise_if_signalled(f"{len(finished)} of {len(paths)} photos written into "
                                    f"{output_dir}/, which {config.GALLERY_FILE} and "
                                    f"{config.OUTPUTS_FILE} list")
    shape = "full size" if args.full_res else f"{size}x{size}"
    samples = f"{args.samples} sample" + ("s" if args.samples > 1 else "")
    print(f"test.py: colorized {len(paths)} photos x {samples} ({shape}) into "
          f"{output_dir}/, scored {scored} in color; open {output_dir / config.GALLERY_FILE}")


def choose_decoder(models):
    """The decoder to color with: --models' if given, else the user's own in models/, else the
    released one; says in one line which, and how to train one's own."""
    if models is not None:
        path = Path(models) / config.DECODER_FILE
        if not path.is_file():
            sys.exit(f"test.py: no model at {path}: run train.py first (without --models, test.py "
                     "uses the released model)")
        return path
    own = Path(config.MODELS_DIR) / config.DECODER_FILE
    released = config.PRETRAINED_DIR / config.DECODER_FILE
    if own.is_file():
        print(f"test.py: coloring with your model {own}")
        return own
    if not released.is_file():  # a copy of the scripts without the pretrained/ folder
        sys.exit(f"test.py: no model at {own}: run train.py first")
    shown = Path(os.path.relpath(released)) if released.is_relative_to(Path.cwd()) else released
    print(f"test.py: no model of your own in {config.MODELS_DIR}/: coloring with the released model "
          f"{shown} (see {shown.parent / config.MODEL_CARD}); train.py trains yours into "
          f"{config.MODELS_DIR}/")
    return released


def check_output_folder(input_path, output_dir):
    """Outputs never land where the photos are: a photo.png would be overwritten by its colors."""
    if output_dir.exists() and not output_dir.is_dir():
        sys.exit(f"test.py: {output_dir} is a file, not a folder: choose another --output")
    gallery = output_dir / config.GALLERY_DIR
    if gallery.is_symlink() or (gallery.exists() and not gallery.is_dir()):
        sys.exit(f"test.py: {gallery} is a link or a file, not test.py's folder: test.py writes "
                 "only inside its output folder; move it or choose another --output")
    if input_path.is_file():
        folder = input_path.resolve().parent
        clash = folder in (output_dir.resolve(), (output_dir / config.GALLERY_DIR).resolve())
    else:
        folder, clash = input_path, folders_overlap(input_path, output_dir)
    if clash:
        sys.exit(f"test.py: --output {output_dir} and the photos' folder {folder} are the same or "
                 "inside one another: choose an output folder apart from the photos")


def input_photos(input_path, output_dir):
    """The files to try: the one photo given, or the folder's entries; what can't be a photo
    (folders, broken links, pipes and the like), and a link to a file in the output folder (its
    colors would replace it), is named with the reason and left out."""
    if not input_path.exists():
        sys.exit(f"test.py: no photo or folder at {input_path}: put the photos to colorize in "
                 f"{config.TEST_IMAGES_DIR}/ or name them with --input")
    listed = ([input_path] if not input_path.is_dir() else
              sorted(p for p in input_path.iterdir() if not p.name.startswith(".")))
    photos = []
    for path in listed:
        if reason := unusable_reason(path):
            print(f"test.py: skipped {path}: {reason}", file=sys.stderr)
        elif path.resolve().is_relative_to(output_dir.resolve()):
            print(f"test.py: skipped {path}: it is {path.resolve()}, inside the output folder "
                  f"{output_dir}, where its colors would be written", file=sys.stderr)
        else:
            photos.append(path)
    if input_path.is_file() and not photos:
        sys.exit(f"test.py: nothing to color in {input_path}")
    return photos


def load_decoder(path):
    """The decoder in path, checked against the contract (z, gray, the backbone's maps) -> chroma
    of colorizer.model: anything else is one line, not a traceback or tints at random."""
    keras = import_keras()
    try:
        decoder = keras.saving.load_model(path)  # safe mode stays on
    except Exception as err:  # a damaged file fails deep inside Keras in many ways
        sys.exit(f"test.py: {path} is not a loadable Keras model ({type(err).__name__}); "
                 "run train.py again")
    if problem := decoder_problem(decoder):
        sys.exit(f"test.py: {path} is not a colorizer decoder: {problem}; give --models the "
                 f"folder train.py wrote")
    return decoder


def decoder_problem(decoder):
    """What breaks the contract: inputs z (latent,), gray (S, S, 1) and the maps of a backbone
    (colorizer.backbone), output chroma (S, S, 2), S a multiple of 16; None if nothing does."""
    from colorizer.backbone import backbone_name

    shapes = [tuple(t.shape) for t in (*decoder.inputs, *decoder.outputs)]
    if len(decoder.inputs) < 2 or len(decoder.outputs) != 1:
        return (f"it takes {len(decoder.inputs)} input(s) and gives {len(decoder.outputs)} "
                "output(s), where a decoder takes z and the gray and gives the chroma")
    try:
        backbone_name(decoder)
    except ValueError as err:
        return str(err)
    (_, *z), (_, *gray), (_, *chroma) = shapes[0], shapes[1], shapes[-1]
    side = gray[0] if len(gray) == 3 else None
    if len(z) != 1 or not z[0] or not side or gray != [side, side, 1] or side % config.SIZE_MULTIPLE:
        return (f"its inputs are {shapes[0]} and {shapes[1]}, where a decoder takes z (None, n) "
                f"and a square gray (None, S, S, 1), S a multiple of {config.SIZE_MULTIPLE}")
    if chroma != [side, side, 2]:
        return f"its output is {shapes[-1]}, where a decoder gives chroma (None, {side}, {side}, 2)"
    return None


def load_photo(path, size, full_res):
    """The photo as test.py colors it: whole, or center-cropped and resized to size×size."""
    return np.asarray(open_rgb(path) if full_res else square(open_rgb(path, size), size))


def load_small(path, size, full_res):
    """(the photo as test.py colors it, None with --full-res: it is reloaded when written; its
    gray at the model's size), or the reason path is skipped."""
    try:
        if full_res and (reason := too_big(path)):
            return reason
        img_rgb = load_photo(path, size, full_res)
    except UNREADABLE as err:
        return unreadable_reason(path, err)
    if min(img_rgb.shape[:2]) < config.MIN_SIDE:
        return (f"{img_rgb.shape[1]}x{img_rgb.shape[0]} pixels, too small to color (at least "
                f"{config.MIN_SIDE} a side)")
    gray_img = Image.fromarray(rgb_to_gray(img_rgb))
    gray_small = np.asarray(gray_img.resize((size, size), Image.Resampling.BICUBIC))
    return (None if full_res else img_rgb), gray_small


def too_big(path, free=None):
    """Why coloring path at its own size would not fit in `free` bytes (default: the memory
    free now) with THREADS photos at a time, or None. Reads only the header."""
    with Image.open(path) as img:
        width, height = img.size
    need = width * height * FULL_RES_BYTES_PER_PIXEL * THREADS
    if free is None:
        with open("/proc/meminfo") as f:
            free = next(int(n.split()[1]) * 1024 for n in f if n.startswith("MemAvailable:"))
    if need <= free:
        return None
    return (f"{width}x{height} pixels: coloring it at full size needs about {need / 2**30:.1f} "
            f"GB, more than the {free / 2**30:.1f} GB free; color it without --full-res")


def load_inputs(candidates, size, full_res):
    """(paths, photos or None, grays at the model's size) of the readable candidates, read on
    every core (Pillow decodes outside the GIL); the others named with the reason."""
    with ThreadPoolExecutor(THREADS) as pool:
        loaded = list(pool.map(lambda path: load_small(path, size, full_res), candidates))
    for path, result in zip(candidates, loaded):
        if isinstance(result, str):
            print(f"test.py: skipped {path}: {result}", file=sys.stderr)
    kept = [(path, *result) for path, result in zip(candidates, loaded)
            if not isinstance(result, str)]
    if not kept:
        return [], [], []
    paths, imgs_small, grays_small = zip(*kept)
    return list(paths), list(imgs_small), np.stack(grays_small)


@contextlib.contextmanager
def output_lock(output_dir):
    """The output folder to this run alone: a second test.py into it is refused in one line.
    The lock is on the folder itself, so nothing is left in it."""
    output_dir.mkdir(parents=True, exist_ok=True)
    folder = os.open(output_dir, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"test.py: another test.py is writing into {output_dir}/: wait for it to "
                 "finish or choose another --output")
    try:
        yield
    finally:
        os.close(folder)


def claim_names(output_dir, paths, samples):
    """Each photo's output stem, once no name this run writes holds a file that test.py did not
    write there (outputs.json lists what it wrote): such a file is never replaced."""
    earlier = read_manifest(output_dir)
    stems = output_stems(paths, samples)
    names = [n for stem in stems for n in photo_files(stem, samples)] + REPORTS
    if earlier is None:
        names.append(config.OUTPUTS_FILE)
    if foreign := foreign_files(output_dir, names, earlier):
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        sys.exit(f"test.py: {output_dir / foreign[0]}{more} was not written by test.py (it is not "
                 f"in {output_dir / config.OUTPUTS_FILE}), and test.py never replaces a file of "
                 "yours: move it or choose another --output")
    return stems


def colorize_and_write(decoder, paths, imgs_small, grays_small, z, stems, output_dir,
                       interruption):
    """Each photo's samples, gray and original written, its color laid onto its own gray at
    its own size; returns per photo written (its scores or None, its gallery entry). After a
    signal, the photos under way are finished and no others begun."""
    samples = len(z) // len(paths)
    (output_dir / config.GALLERY_DIR).mkdir(parents=True, exist_ok=True)
    # The random-tint floor's hues: `samples` per photo, the same in every run.
    random_hues = np.random.default_rng(RANDOM_FLOOR_SEED).uniform(0, 360, (len(paths), samples))

    def finish(i, chroma):
        img_rgb = imgs_small[i] if imgs_small[i] is not None else np.asarray(open_rgb(paths[i]))
        return write_photo(printable(paths[i].name), stems[i], img_rgb, chroma, random_hues[i],
                           output_dir)

    # Threads finish a batch's photos while the decoder colors the next: it leaves a fifth of
    # the cores idle. PNG encoding, resizing and most of numpy run outside the GIL.
    with ThreadPoolExecutor(THREADS) as pool:
        pending = []
        for first, chroma in chroma_batches(decoder, grays_small, z):
            if interruption.signal:
                break
            for i in range(first, first + len(chroma) // samples):
                at = (i - first) * samples
                pending.append(pool.submit(finish, i, chroma[at:at + samples]))
        finished = []
        for job in pending:
            if interruption.signal:
                job.cancel()  # unless begun
            if not job.cancelled():
                finished.append(job.result())
        return finished


def write_photo(title, stem, img_rgb, chroma_samples, random_hues, output_dir):
    """Writes the samples, the gray and the original of one photo, each sample as it is made
    (at full size only one is held at a time); returns its metrics row and hue counts (None for
    a grayscale photo) and its gallery entry."""
    gray = rgb_to_gray(img_rgb)
    in_color = not is_grayscale(img_rgb)
    names = photo_files(stem, len(chroma_samples), in_color)
    height, width = gray.shape
    max_side = min(config.SCORE_MAX_SIDE, max(height, width) * math.sqrt(
        config.SCORE_MAX_PIXELS / (height * width * len(chroma_samples))))
    samples_scored = []
    for name, chroma in zip(names, chroma_samples):
        sample_rgb = merge_resized(gray, chroma)
        save_png(sample_rgb, output_dir / name)
        if in_color:
            samples_scored.append(shrink(sample_rgb, max_side))
    gray_name, *original_name = names[len(chroma_samples):]
    save_png(gray, output_dir / gray_name)
    entry = (title, gray_name, names[:len(chroma_samples)], original_name[0] if in_color else None)
    if not in_color:
        return None, entry
    save_png(img_rgb, output_dir / original_name[0])
    row, counts = score_photo(np.stack(samples_scored), img_rgb, gray, random_hues, max_side)
    return ({"photo": title, **row}, counts), entry


def write_reports(finished, samples, output_dir):
    """The scores (metrics.csv, hue.csv and a printed table, where photos were in color), the
    gallery page and the manifest; an earlier run's files not written again are removed.
    Returns how many photos were scored."""
    earlier = read_manifest(output_dir)
    scored = [score for score, _ in finished if score is not None]
    rows, counts = [row for row, _ in scored], [c for _, c in scored]
    entries = [entry for _, entry in finished]
    reports = [config.GALLERY_FILE]
    if rows:
        save_text(csv_text(rows), output_dir / config.METRICS_FILE)
        save_text(hue_csv_text(hue_rates(counts)), output_dir / config.HUE_FILE)
        reports += [config.METRICS_FILE, config.HUE_FILE]
        print(summary_table(rows, counts, samples))
    save_text(gallery_html(entries, {r["photo"]: r for r in rows}, samples),
              output_dir / config.GALLERY_FILE)
    write_manifest(output_dir, entries, reports, earlier)
    return len(rows)


if __name__ == "__main__":
    run(main, "test.py")
