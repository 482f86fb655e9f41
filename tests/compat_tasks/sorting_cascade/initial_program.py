"""Sorting example: evolve a faster sort of integer lists"""


# EVOLVE-BLOCK-START
def sort_numbers(values):
    """
    Sort a list of integers in ascending order (insertion sort to start with).

    Args:
        values: List of integers

    Returns:
        A new sorted list
    """
    result = list(values)
    for i in range(1, len(result)):
        item = result[i]
        j = i - 1
        while j >= 0 and result[j] > item:
            result[j + 1] = result[j]
            j -= 1
        result[j + 1] = item
    return result


# EVOLVE-BLOCK-END


def run(values):
    return sort_numbers(values)
