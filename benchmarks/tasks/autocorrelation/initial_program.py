"""A non-negative step function on [-1/4, 1/4] whose autoconvolution should peak as low as possible."""

# EVOLVE-BLOCK-START
HEIGHTS = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]


def heights():
    return list(HEIGHTS)


# EVOLVE-BLOCK-END
