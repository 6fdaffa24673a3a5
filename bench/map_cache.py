"""The backbone's maps as training keeps them, 8-bit codes with a scale per channel, against the
float maps: what each costs on disk and what the released decoder colors from each.

    python bench/map_cache.py

On each held-out set of bench/quality.py (112 px squares, as quality.py scores them), the
released decoder colors every photo from z = 0 twice: from the backbone's float maps, and from
the same maps coded as train.py's cache codes them (colorizer.data.QuantizedMaps, each channel's
scale fitted to 256 of the set's training photos, as train.py fits it to its images). Printed per
set: bytes an image, the coding's error (RMS over the maps' RMS) and its clipped share, and the
first colorization's PSNR (and over the gray's), balanced hue, green and cyan/blue hits from
each, and how far the two colorizations lie apart. Then, for horizontal flips as a lever: how far
the maps of a flipped gray lie from the flipped maps of the gray (RMS over the maps' RMS), which
says whether a flip can reuse an image's cached maps or needs maps of its own.
"""

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer.color import merge, rgb_to_gray  # noqa: E402
from colorizer.config import DECODER_FILE, PRETRAINED_DIR  # noqa: E402
from colorizer.data import CALIBRATION_IMAGES, CODE_MAX, QuantizedMaps  # noqa: E402
from colorizer.images import open_rgb, spread, square  # noqa: E402
from colorizer.metrics import HUE_SECTORS, hue_rates, score_photo  # noqa: E402
from heldout import SETS, fold, photos  # noqa: E402

BATCH = 64


def grays_of(paths):
    imgs = np.stack([np.asarray(square(open_rgb(p))) for p in paths])
    return imgs, rgb_to_gray(imgs)


def read_maps(backbone, grays):
    """{map name: float32 maps (N, ...)} of uint8 grays (N, S, S)."""
    parts = [backbone(grays[i:i + BATCH, ..., None].astype(np.float32), training=False)
             for i in range(0, len(grays), BATCH)]
    return {name: np.concatenate([p[name].numpy() for p in parts]) for name in parts[0]}


def first_colorization(decoder, grays, maps, latent_dim):
    z = np.zeros((len(grays), latent_dim), np.float32)
    chroma = np.concatenate([
        decoder({"z": z[i:i + BATCH], "gray": grays[i:i + BATCH, ..., None].astype(np.float32),
                 **{name: m[i:i + BATCH] for name, m in maps.items()}}, training=False).numpy()
        for i in range(0, len(grays), BATCH)])
    return merge(grays, chroma)


def scores(imgs_rgb, imgs_orig, grays):
    rng = np.random.default_rng(0)
    rows, counts = zip(*(score_photo(out[None], orig, gray, rng.uniform(0, 360, 1))
                         for out, orig, gray in zip(imgs_rgb, imgs_orig, grays)))
    first = hue_rates(counts)["first sample"]
    sectors = dict(zip(HUE_SECTORS, first[2]))
    # a photo whose gray is its original (a gray photo) has no finite PSNR for the gray
    finite = [r for r in rows if np.isfinite(r["psnr_gray"])]
    return (float(np.mean([r["psnr"] for r in finite])),
            float(np.mean([r["psnr_gray"] for r in finite])),
            first[1], sectors["green"], sectors["cyan/blue"])


def main():
    from colorizer.backbone import backbone_model
    from colorizer.inference import Colorizer

    colorizer = Colorizer.load(PRETRAINED_DIR / DECODER_FILE)
    backbone = backbone_model(colorizer.backbone_name, colorizer.size)
    print(f"{'set':16s} {'maps':7s} {'bytes':>7s} {'error':>6s} {'clipped':>8s}  "
          f"{'PSNR':>6s} {'− gray':>6s} {'hue':>5s} {'green':>5s} {'cyan':>5s} {'change':>7s}")
    flips = []
    for set_name, (root, every) in SETS.items():
        if not root.is_dir():
            continue
        paths = photos(root)
        test = [p for p in paths if fold(p, root, every) == 0]
        train = [p for p in paths if fold(p, root, every) != 0]
        calibration = spread(train, CALIBRATION_IMAGES)
        scale = {name: QuantizedMaps.scale_for(m)
                 for name, m in read_maps(backbone, grays_of(calibration)[1]).items()}
        imgs_orig, grays = grays_of(test)
        maps = read_maps(backbone, grays)
        coded = {name: QuantizedMaps(QuantizedMaps(None, scale[name]).encode(m), scale[name])
                 for name, m in maps.items()}
        decoded = {name: q.rows(slice(None)) for name, q in coded.items()}
        values = sum(m[0].size for m in maps.values())
        error = np.sqrt(sum(np.sum((decoded[n] - m) ** 2) for n, m in maps.items())
                        / sum(np.sum(m**2) for m in maps.values()))
        clipped = sum(np.sum(np.abs(q.codes) == CODE_MAX) for q in coded.values()) / (
            values * len(test))
        outs = {}
        for label, m, size, err, clip in (("float16", maps, 2 * values, 0, 0),
                                          ("int8", decoded, values, error, clipped)):
            outs[label] = first_colorization(colorizer.decoder, grays, m, colorizer.latent_dim)
            psnr, psnr_gray, hue, green, cyan = scores(outs[label], imgs_orig, grays)
            change = np.abs(outs[label].astype(np.int16) - outs["float16"]).mean()
            print(f"{set_name:16s} {label:7s} {size / 1e3:6.1f}K {err:6.3f} {clip:8.5f}  "
                  f"{psnr:6.2f} {psnr - psnr_gray:+6.2f} {hue:5.3f} {green:5.3f} {cyan:5.3f} "
                  f"{change:7.3f}")
        flipped = read_maps(backbone, grays[:, :, ::-1])
        gap = np.sqrt(sum(np.sum((flipped[n] - m[:, :, ::-1]) ** 2) for n, m in maps.items())
                      / sum(np.sum(m**2) for m in maps.values()))
        flips.append(f"{set_name}: the maps of the flipped grays lie {gap:.2f} of the maps' RMS "
                     "from the flipped maps")
    print("\n" + "\n".join(flips))
    print(f"\n{len(SETS)} held-out sets, 112 px, the released decoder at z = 0; bytes: one image's "
          "maps (int8: and the scales, shared by all images); error: RMS of the coding's error "
          "over the maps' RMS; clipped: share of codes at ±127; change: mean difference from the "
          "float maps' colorization, in RGB levels")


if __name__ == "__main__":
    main()
