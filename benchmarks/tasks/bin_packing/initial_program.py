"""An online bin-packing heuristic: each item goes to the open bin with the highest priority (FunSearch's problem)."""

# EVOLVE-BLOCK-START
FIT_WEIGHT = 1.0
WASTE_WEIGHT = 0.1
FULLNESS_POWER = 1.0


def priority(item, free, capacity):
    """Priority of putting ``item`` into a bin with ``free`` room left (it fits); the highest wins."""
    fullness = (capacity - free) / capacity
    waste = free - item
    return FIT_WEIGHT * fullness**FULLNESS_POWER - WASTE_WEIGHT * waste / capacity


# EVOLVE-BLOCK-END
