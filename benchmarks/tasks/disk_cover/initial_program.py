"""Five disks of radius 0.2 placed to cover as many of the evaluator's fixed points in the unit square as possible."""

# EVOLVE-BLOCK-START
CENTERS = [
    (0.1, 0.1),
    (0.2, 0.2),
    (0.3, 0.3),
    (0.4, 0.4),
    (0.5, 0.5),
]


def centers():
    return list(CENTERS)


# EVOLVE-BLOCK-END
