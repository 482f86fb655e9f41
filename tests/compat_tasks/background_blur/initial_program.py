"""Background blur example: blur a grayscale image as close to a Gaussian blur as possible, fast"""

import numpy as np


# EVOLVE-BLOCK-START
def blur(image, radius=2):
    """
    Blur a 2-D grayscale image (values in [0, 1]) with a box filter.

    Args:
        image: np.array of shape (h, w)
        radius: Half-width of the filter window

    Returns:
        np.array of the same shape
    """
    padded = np.pad(image, radius, mode="edge")
    out = np.zeros_like(image)
    size = 2 * radius + 1
    for dy in range(size):
        for dx in range(size):
            out += padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
    return out / (size * size)


# EVOLVE-BLOCK-END


def run_blur(image):
    return blur(image)
