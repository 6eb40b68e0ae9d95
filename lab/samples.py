"""Pictures of a data set's letters for the home page (no Streamlit)."""

from __future__ import annotations

import numpy as np

from lab.inspect_model import upscale
from mlp.core import LETTERS

FRAME = 96  # grey of the 1-pixel line around each tile


def letter_grid(images, labels, per_letter, scale=2):
    """One picture: a row per letter A..J of its first ``per_letter`` images, each framed, enlarged ``scale`` times.

    images: (N, 28, 28) uint8, labels: (N,) 0..9 -> (10 (28 + 2) scale, per_letter (28 + 2) scale) uint8.
    A letter with fewer images gets grey tiles in their place.
    """
    rows = []
    for k in range(len(LETTERS)):
        tiles = np.asarray(images[labels == k][:per_letter])
        tiles = np.pad(tiles, ((0, per_letter - len(tiles)), (1, 1), (1, 1)), constant_values=FRAME)
        rows.append(np.hstack([upscale(t, scale) for t in tiles]))
    return np.vstack(rows)
