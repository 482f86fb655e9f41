"""Twelve jobs assigned to three machines (1, 2, 3); the makespan should be as short as possible."""

# EVOLVE-BLOCK-START
MACHINE = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]


def assignment():
    return list(MACHINE)


# EVOLVE-BLOCK-END
