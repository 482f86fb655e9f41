"""A configuration puzzle with a discrete search space: 12 jobs on 3 machines, 3^12 assignments.

The durations split into three equal thirds (an exact partition exists), so the score, the lower bound
sum / 3 divided by the makespan, reaches 1 exactly at an optimum. A machine number outside 1..3 or a wrong number
of jobs fails the candidate.
"""

import importlib.util

DURATIONS = [31, 29, 23, 19, 17, 13, 11, 7, 5, 3, 2, 2]  # 162: 31+23 = 29+17+5+3 = 19+13+11+7+2+2 = 54
MACHINES = 3


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate_assignment", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    got = [int(m) for m in module.assignment()]
    if len(got) != len(DURATIONS):
        raise ValueError(f"expected {len(DURATIONS)} machine numbers, got {len(got)}")
    if any(m not in range(1, MACHINES + 1) for m in got):
        raise ValueError(f"machine numbers must be 1..{MACHINES}: {got}")
    loads = [0] * MACHINES
    for job, m in enumerate(got):
        loads[m - 1] += DURATIONS[job]
    bound = sum(DURATIONS) / MACHINES
    return {"combined_score": bound / max(loads), "makespan": float(max(loads))}
