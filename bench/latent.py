"""How much z can say about a photo's colors, and how much of it draws from the prior find.

    python bench/latent.py bench/runs/quality/models1 bench/runs/quality/test_images

Decodes each color photo with the encoder's own z (the posterior mean, which has seen the true
colors: the best z can do), with z = 0, and with draws from N(0, I), and prints their mean PSNR
beside the gray baseline, with the KL of each latent dimension. A large gap between the
posterior and the best of the draws means z holds colors that sampling cannot reach.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from colorizer import config, import_keras  # noqa: E402
from colorizer.color import gray_to_rgb, is_grayscale, rgb_to_chroma, rgb_to_gray  # noqa: E402
from colorizer.images import open_rgb, square  # noqa: E402
from colorizer.metrics import psnr  # noqa: E402

DRAWS = 8
SEED = 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", help=f"folder with {config.VAE_FILE}")
    p.add_argument("photos", help="folder of held-out color photos")
    args = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = import_keras()

    from colorizer.model import CVAE  # noqa: F401  (registers the class for loading)
    from colorizer.backbone import backbone_model
    from colorizer.inference import Colorizer

    vae = keras.saving.load_model(Path(args.models) / config.VAE_FILE)
    colorizer, size = Colorizer(vae.decoder), vae.config.size
    imgs_rgb = [np.asarray(square(open_rgb(path, size), size))
                for path in sorted(Path(args.photos).iterdir()) if path.is_file()]
    imgs_rgb = np.stack([img for img in imgs_rgb if not is_grayscale(img)])
    grays = rgb_to_gray(imgs_rgb)
    gray_in = grays[..., None].astype(np.float32)
    backbone = backbone_model(vae.config.backbone, size)
    condition = {"gray": gray_in, **(backbone.predict(gray_in, verbose=0) if backbone else {})}
    encoder_in = vae.encoder_inputs(
        {name: keras.ops.convert_to_tensor(x) for name, x in condition.items()},
        keras.ops.convert_to_tensor(rgb_to_chroma(imgs_rgb)))
    z_mean, z_log_var = vae.encoder.predict([keras.ops.convert_to_numpy(x) for x in encoder_in],
                                            verbose=0)

    def psnrs(z):
        colored = colorizer.colorize(grays, z.astype(np.float32))
        return np.array([psnr(c, img) for c, img in zip(colored, imgs_rgb)])

    rng = np.random.default_rng(SEED)
    draws = np.stack([psnrs(rng.standard_normal(z_mean.shape)) for _ in range(DRAWS)])
    gray_psnr = np.mean([psnr(gray_to_rgb(g), img) for g, img in zip(grays, imgs_rgb)])
    kl = (-0.5 * (1 + z_log_var - z_mean**2 - np.exp(z_log_var))).mean(0)

    print(f"{len(imgs_rgb)} color photos, {size} px, {z_mean.shape[1]}-dimensional z\n")
    for name, value in [("gray baseline", gray_psnr),
                        ("z = 0", psnrs(np.zeros_like(z_mean)).mean()),
                        ("a draw from N(0, I), mean", draws.mean()),
                        (f"best of {DRAWS} draws", draws.max(0).mean()),
                        ("the encoder's z (posterior mean)", psnrs(z_mean).mean())]:
        print(f"{name:36s} {value:6.2f} dB")
    print(f"\nKL per dimension, nats (largest first): {np.array2string(np.sort(kl)[::-1], precision=1)}")
    print(f"KL in all: {kl.sum():.1f} nats")


if __name__ == "__main__":
    main()
