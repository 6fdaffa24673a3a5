"""A photo of any proportions as the model sees it: tiles of its short side that cover it, their
chroma blended back without seams."""

import numpy as np
import pytest
from PIL import Image

from colorizer.tiling import Tiling


@pytest.mark.parametrize("height, width, tiles", [(112, 112, 1), (300, 451, 2), (451, 300, 2),
                                                  (100, 400, 4), (375, 500, 2), (9, 2000, 223)])
def test_tiles_are_squares_of_the_short_side_that_cover_the_photo(height, width, tiles):
    gray = np.random.default_rng(0).integers(0, 256, (height, width), np.uint8)
    tiling = Tiling(gray, 112)
    assert len(tiling.tiles) == tiles
    assert all(t.shape == (112, 112) and t.dtype == np.uint8 for t in tiling.tiles)
    side = min(height, width)
    first, last = tiling.tiles[0], tiling.tiles[-1]
    ends = (gray[:, :side], gray[:, -side:]) if width > height else (gray[:side], gray[-side:])
    for tile, end in zip((first, last), ends):  # the first and last squares reach its ends
        expected = np.asarray(Image.fromarray(end).resize((112, 112), Image.Resampling.BICUBIC))
        assert np.array_equal(tile, expected)
    chroma = tiling.blend([np.zeros((3, 112, 112, 2), np.float32)] * tiles)
    long_side = max(112, round(max(height, width) * 112 / side))
    assert chroma.shape == ((3, 112, long_side, 2) if width > height else (3, long_side, 112, 2))


def test_a_square_photo_is_its_own_tile_and_its_chroma_untouched():
    gray = np.random.default_rng(1).integers(0, 256, (112, 112), np.uint8)
    tiling = Tiling(gray, 112)
    assert np.array_equal(tiling.tiles[0], gray)
    chroma = np.random.default_rng(2).uniform(-1, 1, (2, 112, 112, 2)).astype(np.float32)
    assert tiling.blend([chroma]) is chroma


def test_blended_tiles_agree_where_they_agree_and_meet_without_a_seam():
    tiling = Tiling(np.zeros((300, 451), np.uint8), 112)  # two tiles, overlapping in the middle
    same = np.full((1, 112, 112, 2), 0.3, np.float32)
    assert np.allclose(tiling.blend([same, same]), 0.3)
    left, right = np.full((1, 112, 112, 2), -0.5, np.float32), np.full((1, 112, 112, 2), 0.5, np.float32)
    row = tiling.blend([left, right])[0, 50, :, 0]
    assert row[0] == -0.5 and row[-1] == 0.5  # each end its own tile's
    assert np.all(np.diff(row) >= 0) and np.abs(np.diff(row)).max() < 0.1  # a ramp, not a step
