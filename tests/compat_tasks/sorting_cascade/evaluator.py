"""
Evaluator for the sorting example, as a three-stage cascade:
stage 1 checks correctness on small lists, stage 2 times medium lists, stage 3 checks robustness.
"""

import importlib.util
import random
import time
import traceback

from openevolve.evaluation_result import EvaluationResult


def load_program(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    program = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(program)
    return program


def make_cases(count, size, seed):
    rng = random.Random(seed)
    return [[rng.randint(-1000, 1000) for _ in range(size)] for _ in range(count)]


def evaluate_stage1(program_path):
    """Quick correctness check on small lists"""
    try:
        program = load_program(program_path)
        cases = [*make_cases(20, 12, seed=1), [], [5], [2, 2, 2], [3, 2, 1]]
        failures = []
        for case in cases:
            if program.run(case) != sorted(case):
                failures.append(case)
        correctness = 1.0 - len(failures) / len(cases)
        artifacts = {
            "stage": "correctness",
            "cases": f"{len(cases) - len(failures)}/{len(cases)} sorted correctly",
        }
        if failures:
            artifacts["first_failure"] = f"input {failures[0]} gave {program.run(failures[0])}"
        return EvaluationResult(
            metrics={"correctness": correctness, "combined_score": correctness},
            artifacts=artifacts,
        )
    except Exception as e:
        return EvaluationResult(
            metrics={"correctness": 0.0, "combined_score": 0.0},
            artifacts={"stderr": str(e), "traceback": traceback.format_exc(), "failure_stage": "stage1"},
        )


def evaluate_stage2(program_path):
    """Timing on medium lists; returns a plain dict of metrics"""
    try:
        program = load_program(program_path)
        cases = make_cases(5, 300, seed=2)
        start = time.perf_counter()
        outputs = [program.run(case) for case in cases]
        elapsed = time.perf_counter() - start
        correctness = sum(out == sorted(case) for out, case in zip(outputs, cases, strict=True)) / len(cases)
        speed_score = 1.0 / (1.0 + 100.0 * elapsed)
        return {
            "correctness": float(correctness),
            "speed_score": float(speed_score),
            "combined_score": float(correctness * (0.5 + 0.5 * speed_score)),
            "timing": f"{elapsed * 1000:.2f} ms for {len(cases)} lists of 300",
        }
    except Exception as e:
        return {"combined_score": 0.0, "error": str(e)}


def evaluate_stage3(program_path):
    """Robustness: already sorted, reversed and duplicate-heavy lists"""
    program = load_program(program_path)
    cases = [list(range(200)), list(range(200, 0, -1)), [7] * 100 + [3] * 100]
    robust = sum(program.run(case) == sorted(case) for case in cases) / len(cases)
    second = evaluate_stage2(program_path)
    return EvaluationResult(
        metrics={
            "robustness": float(robust),
            "speed_score": second["speed_score"],
            "combined_score": float(second["combined_score"] * robust),
        },
        artifacts={"robustness_cases": f"{int(robust * len(cases))}/{len(cases)} special cases sorted"},
    )


def evaluate(program_path):
    """Full evaluation without the cascade"""
    return evaluate_stage3(program_path)
