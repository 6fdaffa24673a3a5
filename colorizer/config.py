"""Every default the scripts share: image size, folders, file names. One place for each fact."""

from pathlib import Path

IMAGE_SIZE = 112  # the original project's input size, in pixels per side

ARCHIVE_DIR = "archive/ImageNet-Mini/images"  # Kaggle "deeptrial/miniimagenet", unpacked
IMAGES_DIR = "images"
MODELS_DIR = "models"
TEST_IMAGES_DIR = "test_images"
TEST_OUTPUT_DIR = "test_output"
OUTPUTS_FILE = "outputs.json"  # test.py's record, per photo, of the files it wrote there
# cleanup_data.py's record, beside the squares, of the folder each photo came from: its class
# (a Mini-ImageNet wnid, a Caltech-101 category), which train.py --label-weight learns to tell.
LABELS_FILE = "labels.csv"

VAE_FILE = "main_vae.keras"
ENCODER_FILE = "main_vae_encoder.keras"
DECODER_FILE = "main_vae_decoder.keras"

KAGGLE_DATASET = "deeptrial/miniimagenet"
SAMPLES_SOURCE = "samples"  # --source value meaning "the photos bundled in the dependencies"
ARCHIVE_LAYOUT = f"unpack it so that {ARCHIVE_DIR}/<wnid>/*.JPEG exists"
DATASET_HINT = (f"run with --download, or download the Kaggle dataset {KAGGLE_DATASET} and "
                f"{ARCHIVE_LAYOUT}, or run with --source {SAMPLES_SOURCE}")

ENCODER_INPUTS = ("color", "gray")  # the recognition network sees gray and color, or gray only
# Drawn colorizations take z from N(0, τ² I): 1.5 gave bolder, more varied draws than 1 at no
# measured cost to the best of 8 (README, Quality).
TEMPERATURE = 1.5
# What the decoder learns: the chroma itself (squared error, the original project's), or a
# probability per chroma class (cross-entropy, Zhang et al. 2016), which can pick one of the
# colors a region may have where a squared error paints their mean (docs/quality.md).
CHROMA_LOSSES = ("squared", "classes")
# A class decoder paints the annealed mean of its probabilities, Zhang et al.'s T = 0.38:
# between their mean (T = 1, dull where colors compete) and their mode (T → 0, patchy).
ANNEALED_MEAN_T = 0.38
DOWNSAMPLINGS = 4  # the decoder's U-Net halves the gray this many times...
SIZE_MULTIPLE = 2**DOWNSAMPLINGS  # ...so a trainable image side is a multiple of this

CHECKPOINT_FILE = "checkpoint.keras"  # the whole model with optimizer state, every epoch
CHECKPOINT_STATE_FILE = "checkpoint.json"  # epochs done and the data settings, beside it
# The released model: trained by this pipeline, shipped in the repository, used by test.py when
# models/ holds no decoder of the user's own. train.py never writes here.
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
MODEL_CARD = "README.md"  # beside the released decoder: data, licenses, command, scores

HISTORY_CSV = "history.csv"  # every epoch's losses, beside the models
HISTORY_PNG = "history.png"
PREVIEW_PNG = "preview.png"  # fixed validation photos: gray, samples, original

# Photos beside the checkout, for tests and benchmarks (not for users): 691 from Mini-ImageNet,
# 6,934 from Caltech-101.
SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_SAMPLE_DIR = SHARED_DATA_DIR / "mini-imagenet-sample" / "ImageNet-Mini" / "images"
SHARED_CALTECH_DIR = SHARED_DATA_DIR / "caltech101-color" / "Caltech-101"
