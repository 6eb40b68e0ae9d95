"""The home page's picture of a data set's letters (lab.samples)."""

import numpy as np

from lab.samples import FRAME, letter_grid


def test_letter_grid_rows_are_the_letters_first_images():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 5)
    labels[labels == 9] = 8  # no J: its row is grey
    grid = letter_grid(images, labels, per_letter=3, scale=1)
    assert grid.shape == (10 * 30, 3 * 30)
    first_b = images[labels == 1][0]
    assert np.array_equal(grid[31:59, 1:29], first_b)
    assert np.all(grid[9 * 30:, :] == FRAME)
