"""Every default the scripts share: image size, folders, file names. One place for each fact."""

IMAGE_SIZE = 112  # the original project's input size, in pixels per side

ARCHIVE_DIR = "archive/ImageNet-Mini/images"  # Kaggle "deeptrial/miniimagenet", unpacked
IMAGES_DIR = "images"
MODELS_DIR = "models"
TEST_IMAGES_DIR = "test_images"
TEST_OUTPUT_DIR = "test_output"

VAE_FILE = "main_vae.keras"
ENCODER_FILE = "main_vae_encoder.keras"
DECODER_FILE = "main_vae_decoder.keras"

SAMPLES_SOURCE = "samples"  # --source value meaning "the photos bundled in the dependencies"
DATASET_HINT = (
    "download the Kaggle dataset deeptrial/miniimagenet and unpack it so that "
    f"{ARCHIVE_DIR}/<wnid>/*.JPEG exists, or run with --source {SAMPLES_SOURCE}"
)

DOWNSAMPLINGS = 4  # the decoder's U-Net halves the gray this many times...
SIZE_MULTIPLE = 2**DOWNSAMPLINGS  # ...so a trainable image side is a multiple of this
