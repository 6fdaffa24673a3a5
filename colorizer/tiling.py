"""A photo of any proportions as the model sees it: squares of its short side (tiles), as few as
cover it, spread evenly along its long side, each resized to the model's square as its training
photos were; their chroma blended back where they overlap, each tile weighing less toward its
edges. Squeezing the whole photo into one square (round things turn oval for the backbone) or
padding it to one colored held-out photos worse (docs/quality.md, "A photo seen whole")."""

import numpy as np
from PIL import Image


class Tiling:
    """The tiles of one photo's gray (uint8 (H, W)) for a model of size×size squares, and the
    blend of their chroma into one chroma at the model's scale: size px along the short side,
    the photo's proportions kept, for colorizer.color.merge_resized to lay on the gray."""

    def __init__(self, gray, size):
        self.size = size
        height, width = gray.shape
        self.across_width = width > height  # tiles follow each other along the width
        side, across = min(height, width), max(height, width)
        self.long_small = max(size, round(across * size / side))
        count = -(-self.long_small // size)
        self.starts = np.linspace(0, self.long_small - size, count).round().astype(int)
        self.tiles = []
        for start in self.starts:  # the first and last tiles reach the photo's ends
            first = round(start * (across - side) / max(self.long_small - size, 1))
            tile = gray[:, first:first + side] if self.across_width else gray[first:first + side]
            self.tiles.append(np.asarray(Image.fromarray(tile).resize(
                (size, size), Image.Resampling.BICUBIC)))

    def blend(self, chromas):
        """The tiles' chroma (one float32 array (N, size, size, 2) per tile, N colorizations)
        -> float32 (N, h, w, 2) over the whole photo at the model's scale."""
        if len(chromas) == 1:
            return chromas[0]
        size = self.size
        ramp = np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5).astype(np.float32)
        canvas = np.zeros((len(chromas[0]), self.long_small, size, 2), np.float32)
        weight = np.zeros((self.long_small, 1, 1), np.float32)
        for start, chroma in zip(self.starts, chromas):
            along = chroma.transpose(0, 2, 1, 3) if self.across_width else chroma
            canvas[:, start:start + size] += along * ramp[:, None, None]
            weight[start:start + size] += ramp[:, None, None]
        canvas /= weight
        return canvas.transpose(0, 2, 1, 3) if self.across_width else canvas
