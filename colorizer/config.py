"""Every default, once, by concern: files and folders; the model's settings (ModelConfig, saved
with the model); a training run's settings (RunConfig); inference (test.py). No TensorFlow here."""

import dataclasses
import os
from pathlib import Path

# -- files and folders --------------------------------------------------------------------------
IMAGE_SIZE = 112  # the original project's input size, in pixels per side

ARCHIVE_DIR = "archive/ImageNet-Mini/images"  # Kaggle "deeptrial/miniimagenet", unpacked
IMAGES_DIR = "images"
MODELS_DIR = "models"
TEST_IMAGES_DIR = "test_images"
TEST_OUTPUT_DIR = "test_output"

VAE_FILE = "main_vae.keras"
ENCODER_FILE = "main_vae_encoder.keras"
DECODER_FILE = "main_vae_decoder.keras"
CHECKPOINT_FILE = "checkpoint.keras"  # the whole model with optimizer state, every epoch
CHECKPOINT_STATE_FILE = "checkpoint.json"  # epochs done and the run's seed and batch size
# the backbone's maps of the training images, for the next run on them (colorizer.data)
MAPS_CACHE_DIR = "backbone_maps"
HISTORY_CSV = "history.csv"  # every epoch's losses, beside the models
HISTORY_PNG = "history.png"
PREVIEW_PNG = "preview.png"  # fixed validation photos: gray, samples, original
# the epoch whose decoder is kept and its scores: a resumed run's cut-short epoch is done again
# and its history row dropped, but a decoder it kept stays kept
KEPT_FILE = "kept.json"
# What train.py writes into its models folder: none of them may be a link, which a write (Keras'
# CSV logger appends in place) or a deletion (of an old set of maps) would go through.
MODELS_FILES = (VAE_FILE, ENCODER_FILE, DECODER_FILE, CHECKPOINT_FILE, CHECKPOINT_STATE_FILE,
                MAPS_CACHE_DIR, HISTORY_CSV, HISTORY_PNG, PREVIEW_PNG, KEPT_FILE)

# test.py's outputs: its record, per photo, of the files it wrote, and what it writes beside them
OUTPUTS_FILE = "outputs.json"
METRICS_FILE = "metrics.csv"
HUE_FILE = "hue.csv"  # hue hits pooled over the photos: per sector, with the floors beside
GALLERY_FILE = "index.html"
GALLERY_DIR = "gallery"  # the gray inputs and originals the page shows beside the samples

KAGGLE_DATASET = "deeptrial/miniimagenet"
# cleanup_data.py --download gives up after this many seconds without a byte (a test shortens it)
DOWNLOAD_STALL_VARIABLE, DOWNLOAD_STALL_S = "COLORIZER_DOWNLOAD_STALL", 60
SAMPLES_SOURCE = "samples"  # --source value meaning "the photos bundled in the dependencies"
ARCHIVE_LAYOUT = f"unpack it so that {ARCHIVE_DIR}/<wnid>/*.JPEG exists"
DATASET_HINT = (f"run with --download, or download the Kaggle dataset {KAGGLE_DATASET} and "
                f"{ARCHIVE_LAYOUT}, or run with --source {SAMPLES_SOURCE}")

# The released model: trained by this pipeline, shipped in the repository, used by test.py when
# models/ holds no decoder of the user's own. train.py never writes here.
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
MODEL_CARD = "README.md"  # beside the released decoder: data, licenses, command, scores

# Photos beside the checkout, for tests and benchmarks (not for users): 691 from Mini-ImageNet,
# 6,934 from Caltech-101, 14,173 scenes, flowers, horses and insects (<source>/<category>/).
SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_SAMPLE_DIR = SHARED_DATA_DIR / "mini-imagenet-sample" / "ImageNet-Mini" / "images"
SHARED_CALTECH_DIR = SHARED_DATA_DIR / "caltech101-color" / "Caltech-101"
SHARED_MORE_DIR = SHARED_DATA_DIR / "more-color-photos"

# -- the model ----------------------------------------------------------------------------------
DOWNSAMPLINGS = 4  # the decoder's U-Net halves the gray this many times...
SIZE_MULTIPLE = 2**DOWNSAMPLINGS  # ...so a trainable image side is a multiple of this
# The recognition network sees gray and color (a CVAE), or the gray only (the original project).
ENCODER_INPUTS = ("color", "gray")
# Weight of the KL term against the squared chroma error summed over pixels (docs/quality.md,
# "The KL weight and the size of z").
KL_WEIGHT = 0.3
BACKBONES = ("efficientnet-lite0", "none")  # colorizer.backbone's; none: the gray alone
REGIONS_DOWNSAMPLINGS = 3  # z's regions are read from the backbone's map at 1/8 of the size
Z_REGIONS = 4  # z_regions with a backbone
Z_REGIONS_LAYER = "z_regions"  # the decoder's soft regions, whose count splits z for test.py


# Settings retired from ModelConfig, and the value each kept: a checkpoint saved at that value
# resumes. Their trials are in docs/quality.md, with the commits that revive them.
RETIRED = {"chroma_loss": "squared"}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What shapes the model and its loss. train.py builds it from its options; the model
    carries it (CVAE.get_config), so a checkpoint resumes as it was built."""
    size: int = IMAGE_SIZE
    width: int = 16  # filters of the first stage; 16 learned more than 32 in 30 minutes
    # z is small and its KL weighed heavily, so it holds a few strong color choices that a
    # handful of draws from the prior cover: 4 numbers for each of z's regions, below
    # (docs/quality.md, "The KL weight and the size of z" and "z through regions").
    latent_dim: int = 16
    encoder_input: str = "color"
    backbone: str = "efficientnet-lite0"  # an ImageNet-trained network the decoder reads
    kl_weight: float = KL_WEIGHT
    zero_z: float = 0.5  # share of each batch decoded from z = 0 (Sohn et al.'s hybrid objective)
    # Zhang et al.'s λ: below 1, rare hues weigh more (1: off). With the backbone, hues
    # rebalanced half way made z = 0 paint foliage green ten times as often (docs/quality.md).
    rebalance_mix: float = 0.5
    # z reaches the decoder through this many soft regions read from the backbone's stride-16
    # map, each region's color from its own latent_dim / z_regions numbers of z, so that a draw
    # can change the sky apart from the grass instead of casting over both (1: z everywhere
    # alike). None: 4 with a backbone, 1 without (docs/quality.md, "z through regions").
    z_regions: int | None = None

    def __post_init__(self):
        for name, allowed in (("encoder_input", ENCODER_INPUTS), ("backbone", BACKBONES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if self.size % SIZE_MULTIPLE:
            raise ValueError(f"size must be a multiple of {SIZE_MULTIPLE}, not {self.size}")
        if self.z_regions is None:
            object.__setattr__(self, "z_regions", 1 if self.backbone == "none" else Z_REGIONS)
        if self.latent_dim % self.z_regions:
            raise ValueError(f"z of {self.latent_dim} numbers does not split into "
                             f"{self.z_regions} regions alike: make latent_dim a multiple of it")
        if self.z_regions > 1 and self.backbone == "none":
            raise ValueError("z's regions are read from a backbone: z_regions must be 1 with "
                             "backbone none")

    @classmethod
    def from_saved(cls, saved):
        """The settings a model or checkpoint carries; those saved before backbones or z's
        regions existed were of models without them. A retired setting at the value that became
        the only one is dropped; at another (a retired variant) it is a ValueError."""
        saved = {"backbone": "none", "z_regions": 1, **saved}
        for name, only in RETIRED.items():
            if (value := saved.pop(name, only)) != only:
                raise ValueError(f"it was trained with the retired {name} {value!r}")
        return cls(**saved)

    @classmethod
    def fields(cls):
        return [field.name for field in dataclasses.fields(cls)]


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How one training run goes; the checkpoint keeps seed and batch_size (checkpoint.json)."""
    epochs: int = 10
    batch_size: int = 32
    seed: int = 1337  # the split, the weights and the sampling
    # The rate falls along a cosine from the first to the second over the run (its epochs or
    # --max-minutes): at a constant 1e-3 the last epoch was rarely the best (docs/quality.md).
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4
    val_fraction: float = 0.1  # share of original photos (with their crops) held out
    color_stats_photos: int = 2000  # training images whose colors tell how common each color is
    preview_photos: int = 4  # validation photos shown in models/preview.png after every epoch
    # validation photos colored after every epoch: the decoder of the epoch that colors them best
    # is the one kept; with fewer than the second, chance would choose, and the last is kept
    selection_photos: int = 256
    selection_min_photos: int = 32


# train.py's peak memory: a fixed part, then per pixel of an image's side squared, a part for the
# maps' pass and the preview and a part for each image of a batch; measured at 112 to 1024 px
# with the backbone, rounded up (docs/speed.md, "Training memory").
TRAIN_MEMORY_BYTES = 1.6e9
TRAIN_MEMORY_PER_PIXEL, TRAIN_MEMORY_PER_BATCH_PIXEL = 2000, 520


def registered(table, name):
    """Class decorator: the class becomes table[name], a variant a setting chooses by name."""
    def register(cls):
        table[name] = cls
        return cls
    return register


# tf.distribute: this process alone, all GPUs of this machine, or the machines named in TF_CONFIG
STRATEGIES = ("default", "mirrored", "multiworker")


# -- inference (test.py) ------------------------------------------------------------------------
# Drawn colorizations take z where N(0, τ² I) has its mass (colorizer.inference.prior_z). With z
# split among the backbone's regions, a draw at 1 comes closer to the original than at 1.5, and
# its best of 8 too, with as many right hues (docs/quality.md, "The released model").
TEMPERATURE = 1.0
SAMPLES = 1
MAX_SAMPLES = 100
DECODER_BATCH = 32  # colorizations per decoder call (docs/speed.md compares sizes)
MIN_SIDE = 8  # pixels; a thinner photo has no colors to speak of, and breaks SSIM's window
# Photos read or finished at once; each costs memory at its own size, per pixel: Pillow's copy
# and the array, its gray, one sample, the PNG encoder's copy (a 24-megapixel photo took 29.7
# bytes a pixel above start-up: docs/speed.md, "Large photos").
PHOTO_THREADS = min(4, os.cpu_count() or 1)
OWN_SIZE_BYTES_PER_PIXEL = 30
# Photos at their own size are scored on copies at most this many pixels on the long side...
SCORE_MAX_SIDE = 1024
# ...and on copies of at most this many pixels in all their samples together, so that the
# memory scoring takes (about 60 bytes a pixel) does not grow with --samples.
SCORE_MAX_PIXELS = 4 * 1024 * 1024
