"""Sort a list of integers; godel evolves what lies between the EVOLVE-BLOCK markers."""

import logging

logger = logging.getLogger(__name__)


# EVOLVE-BLOCK-START
def solve(xs):
    logger.info("GODEL-CANARY solve start")
    out = list(xs)
    for i in range(len(out)):
        for j in range(len(out) - 1 - i):
            if out[j] > out[j + 1]:
                out[j], out[j + 1] = out[j + 1], out[j]
                break
    return out


# EVOLVE-BLOCK-END


def main(xs):
    return solve(xs)
