"""Gray and color, split and merged. All numpy; images are uint8 RGB (..., 3) and uint8 gray (...).

Gray is Rec.601 luma, exactly what Pillow's convert("L") gives.
Hue is the hexcone hue of HSV/HSL, the original project's convention: red 0°, yellow 60°,
green 120°, blue 240° (on its 0–240 scale a value x is 1.5·x degrees).
Saturation is the hexcone chroma max(R, G, B) − min(R, G, B) on 0–1 (HSV saturation × value):
unlike HSV/HSL saturation it stays small and stable in near-black and near-white pixels, and an
error in it is an error of the same size in RGB, so a loss on it tracks the error people see.
Color is stored as the point saturation · (cos h, sin h): two channels, the "chroma".
"""

import numpy as np

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
# Pillow's fixed-point Rec.601 weights (x / 65536), so rgb_to_gray matches convert("L") bit for bit.
_LUMA_FIXED = np.array([19595, 38470, 7471], np.uint32)
_SEXTANT = np.pi / 3  # hexcone hue is measured in sixths of a turn
GRAY_MEAN_SATURATION = 2.0 / 255  # below this mean chroma a photo counts as grayscale
CHROMA_BINS = 16  # bins per axis of the chroma plane [-1, 1]², for rebalancing
HUE_BINS = 12  # 30° sectors of hue, for rebalancing by hue
# Below this saturation a pixel's hue is mostly noise: the four chroma bins about gray lie under it.
GRAY_BIN_SATURATION = 0.1
# The uint8 gray is off by up to half a level; without this slack a saturated pixel at the gamut
# edge would lose several levels of saturation to that rounding alone.
_GAMUT_SLACK = 0.5 / 255


def rgb_to_gray(img_rgb):
    """uint8 RGB (..., 3) -> uint8 Rec.601 luma (...)."""
    # Channel by channel: numpy's integer matmul over a last axis of 3 takes twice as long.
    r, g, b = (img_rgb[..., c].astype(np.uint32) * _LUMA_FIXED[c] for c in range(3))
    return ((r + g + b + 32768) >> 16).astype(np.uint8)


def gray_to_rgb(gray):
    """uint8 gray (...) -> the same gray as uint8 RGB (..., 3)."""
    return np.repeat(gray[..., None], 3, axis=-1)


def rgb_to_chroma(img_rgb):
    """uint8 RGB (..., 3) -> float32 saturation · (cos hue, sin hue), shape (..., 2)."""
    rgb = img_rgb.astype(np.float32) / 255
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # Channel by channel: numpy reduces a last axis of 3 ten times slower (training's input).
    high, low = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    sat = high - low
    safe = np.where(sat > 0, sat, 1)
    red_side = (g - b) / safe  # in [-1, 1], never -0.0: % 6, to the bit, is this
    red_side = np.where(red_side < 0, red_side + 6, red_side)
    sextant = np.where(high == r, red_side,
                       np.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4))
    angle = sextant * _SEXTANT
    return np.stack([sat * np.cos(angle), sat * np.sin(angle)], -1).astype(np.float32)


def chroma_to_hue_saturation(chroma):
    """float (..., 2) -> (hue in degrees 0–360, saturation 0–1)."""
    angle = np.degrees(np.arctan2(chroma[..., 1], chroma[..., 0]))
    # angle % 360, to the bit: atan2 lies in [-180, 180]; a float modulo is several times slower.
    hue = np.where(angle < 0, angle + angle.dtype.type(360), angle)
    return hue, np.hypot(chroma[..., 0], chroma[..., 1])


def _pure_hue_rgb(hue_deg):
    """Hue in degrees (...) -> the fully saturated color of that hue, float RGB (..., 3) on 0–1."""
    sixths = hue_deg / hue_deg.dtype.type(60)
    channels = []
    for offset in (5, 3, 1):  # R, G, B
        k = offset + sixths  # in [1, 11]: (offset + sixths) % 6, to the bit, is this below 6
        k = np.where(k >= 6, k - 6, k)
        channels.append(1 - np.clip(np.minimum(k, 4 - k), 0, 1))
    return np.stack(channels, -1)


def merge(gray, chroma):
    """uint8 gray (...) + float chroma (..., 2) -> uint8 RGB (..., 3) whose luma is the gray.

    The color is added along a direction of zero luma, so brightness is kept exactly; where the
    hue cannot reach that saturation at this brightness, the saturation is cut to the gamut edge.
    """
    y = gray.astype(np.float32) / 255
    hue, sat = chroma_to_hue_saturation(chroma.astype(np.float32))
    pure = _pure_hue_rgb(hue)
    direction = pure - (pure @ LUMA_WEIGHTS)[..., None]
    headroom, footroom = 1 + _GAMUT_SLACK - y, -(y + _GAMUT_SLACK)
    with np.errstate(divide="ignore", invalid="ignore"):
        for channel in range(3):  # the saturation each channel allows before it leaves 0–1
            step = direction[..., channel]
            room = np.where(step > 0, headroom, footroom) / step
            sat = np.minimum(sat, np.where(step != 0, room, np.inf))
    rgb = y[..., None] + sat[..., None] * direction
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def merge_resized(gray, chroma_small, strip_rows=512):
    """merge, with chroma predicted at a smaller size resized (bilinear, as OpenCV's INTER_LINEAR:
    pixel centers aligned, edges repeated) to the gray's size.

    The chroma is resized along the rows once (small: the model's rows by the photo's width),
    then down the columns a strip of rows at a time, each strip merged as it is made: a
    24-megapixel photo never holds its chroma at full size, only a strip's.
    """
    import cv2  # here, not at the top: cleanup_data.py needs this module, not OpenCV's 40 ms import

    height, width = gray.shape
    rows_small = cv2.resize(chroma_small.astype(np.float32), (width, chroma_small.shape[0]),
                            interpolation=cv2.INTER_LINEAR)
    source = np.clip((np.arange(height) + 0.5) * (chroma_small.shape[0] / height) - 0.5, 0,
                     chroma_small.shape[0] - 1)
    above = np.floor(source).astype(np.int64)
    below = np.minimum(above + 1, chroma_small.shape[0] - 1)
    share = (source - above).astype(np.float32)[:, None, None]
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, strip_rows):
        rows = slice(top, top + strip_rows)
        strip = rows_small[above[rows]] * (1 - share[rows]) + rows_small[below[rows]] * share[rows]
        out[rows] = merge(gray[rows], strip)
    return out


def is_grayscale(img_rgb):
    """True when a uint8 RGB photo carries (almost) no color."""
    r, g, b = img_rgb[..., 0], img_rgb[..., 1], img_rgb[..., 2]
    # Channel by channel: numpy reduces a last axis of 3 several times slower.
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    return spread.mean() < GRAY_MEAN_SATURATION * 255


def chroma_bin(chroma, xp=np):
    """float chroma (..., 2) -> int index (...) of its cell in a CHROMA_BINS² grid over [-1, 1]².
    xp: numpy for arrays, keras.ops for the tensors of a training step."""
    cell = xp.clip(xp.floor((chroma + 1) * (CHROMA_BINS / 2)), 0, CHROMA_BINS - 1)
    index = cell[..., 0] * CHROMA_BINS + cell[..., 1]
    return index.astype(np.int64) if xp is np else xp.cast(index, "int32")


def chroma_bin_centers():
    """float32 (CHROMA_BINS², 2): the chroma at the center of each chroma_bin."""
    centers = (np.arange(CHROMA_BINS) + 0.5) * (2 / CHROMA_BINS) - 1
    return np.stack(np.meshgrid(centers, centers, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)


def rebalancing_weights(chroma, mix):
    """Per-bin loss weights that make rare hues count, whatever their saturation: Zhang, Isola
    and Efros 2016's rebalancing (eq. 4) over HUE_BINS sectors of hue instead of chroma bins, which
    rewarded saturation of any hue (docs/quality.md). Each chroma bin's weight is the inverse of
    its hue sector's share of the colored training pixels mixed with a uniform share `mix`. The
    bins about gray, whose hue is arbitrary, weigh what a colored pixel weighs on average.
    Scaled so the mean weight over the training pixels is 1; returns
    float32 (CHROMA_BINS²,): index it with chroma_bin.
    """
    hue, sat = chroma_to_hue_saturation(chroma.reshape(-1, 2))
    colored = sat >= GRAY_BIN_SATURATION
    sector = lambda h: np.minimum((h * (HUE_BINS / 360)).astype(np.int64), HUE_BINS - 1)  # noqa: E731
    share = np.bincount(sector(hue[colored]), minlength=HUE_BINS) / max(colored.sum(), 1)
    sector_weights = 1 / ((1 - mix) * share + mix / HUE_BINS)
    center_hue, center_sat = chroma_to_hue_saturation(chroma_bin_centers())
    weights = np.where(center_sat >= GRAY_BIN_SATURATION, sector_weights[sector(center_hue)],
                       np.sum(share * sector_weights))
    return (weights / weights[chroma_bin(chroma)].mean()).astype(np.float32)

