"""
Evaluator for the function minimization example, returning an EvaluationResult with artifacts
"""

import concurrent.futures
import importlib.util
import time
import traceback

import numpy as np
from openevolve.evaluation_result import EvaluationResult

# Known global minimum (approximate)
GLOBAL_MIN_X = -1.704
GLOBAL_MIN_Y = 0.678
GLOBAL_MIN_VALUE = -1.519


def run_with_timeout(func, args=(), kwargs=None, timeout_seconds=5):
    """Run a function in a worker thread and give up after timeout_seconds"""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        future = executor.submit(func, *args, **(kwargs or {}))
        try:
            return future.result(timeout=timeout_seconds)
        except concurrent.futures.TimeoutError as exc:
            raise TimeoutError(f"Function timed out after {timeout_seconds} seconds") from exc


def evaluate(program_path):
    """
    Evaluate the program by running it several times and checking how close
    it gets to the known global minimum.

    Args:
        program_path: Path to the program file

    Returns:
        EvaluationResult with metrics and artifacts
    """
    try:
        spec = importlib.util.spec_from_file_location("program", program_path)
        program = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(program)

        if not hasattr(program, "run_search"):
            return EvaluationResult(
                metrics={"combined_score": 0.0},
                artifacts={"error": "Missing run_search function", "failure_stage": "load"},
            )

        num_trials = 5
        values, distances, times = [], [], []
        for trial in range(num_trials):
            start_time = time.time()
            x, y, value = run_with_timeout(program.run_search, timeout_seconds=5)
            times.append(time.time() - start_time)
            x, y, value = float(x), float(y), float(value)
            if not all(np.isfinite([x, y, value])):
                print(f"Trial {trial}: invalid result x={x}, y={y}, value={value}")
                continue
            values.append(value)
            distances.append(float(np.hypot(x - GLOBAL_MIN_X, y - GLOBAL_MIN_Y)))

        if not values:
            return EvaluationResult(
                metrics={"combined_score": 0.0, "reliability_score": 0.0},
                artifacts={"error": "All trials failed", "failure_stage": "trials"},
            )

        avg_value = float(np.mean(values))
        avg_distance = float(np.mean(distances))
        value_score = float(1.0 / (1.0 + abs(avg_value - GLOBAL_MIN_VALUE)))
        distance_score = float(1.0 / (1.0 + avg_distance))
        speed_score = float(min(1.0 / max(float(np.mean(times)), 1e-3), 10.0) / 10.0)
        reliability_score = float(len(values) / num_trials)
        combined_score = float(
            0.45 * value_score + 0.45 * distance_score + 0.05 * speed_score + 0.05 * reliability_score
        )

        return EvaluationResult(
            metrics={
                "value_score": value_score,
                "distance_score": distance_score,
                "speed_score": speed_score,
                "reliability_score": reliability_score,
                "combined_score": combined_score,
            },
            artifacts={
                "best_value": f"{min(values):.6f} (global minimum {GLOBAL_MIN_VALUE})",
                "average_distance": f"{avg_distance:.4f} from ({GLOBAL_MIN_X}, {GLOBAL_MIN_Y})",
                "trials": f"{len(values)}/{num_trials} succeeded",
            },
        )
    except Exception as e:
        print(f"Evaluation failed completely: {e}")
        return EvaluationResult(
            metrics={"combined_score": 0.0},
            artifacts={
                "error": str(e),
                "traceback": traceback.format_exc(),
                "failure_stage": "evaluation",
            },
        )
