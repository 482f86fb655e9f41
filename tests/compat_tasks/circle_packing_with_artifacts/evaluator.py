"""
Evaluator for the circle packing example (n=26), with artifacts that explain each verdict.
The program runs in a separate Python process with a timeout.
"""

import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

# Import EvaluationResult for artifacts support
from openevolve.evaluation_result import EvaluationResult

TARGET_VALUE = 2.635  # AlphaEvolve's result for n=26

RUNNER = """
import importlib.util, pickle, sys, traceback

program_path, results_path = sys.argv[1], sys.argv[2]
try:
    spec = importlib.util.spec_from_file_location("program", program_path)
    program = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(program)
    centers, radii, sum_radii = program.run_packing()
    results = {"centers": centers, "radii": radii, "sum_radii": sum_radii}
except Exception as e:
    traceback.print_exc()
    results = {"error": str(e)}
with open(results_path, "wb") as f:
    pickle.dump(results, f)
"""


def validate_packing(centers, radii):
    """
    Check that the circles lie inside the unit square and do not overlap

    Returns:
        Tuple of (is_valid, validation_details)
    """
    n = centers.shape[0]
    details = {
        "total_circles": n,
        "boundary_violations": [],
        "overlaps": [],
        "min_radius": float(np.min(radii)),
        "max_radius": float(np.max(radii)),
    }
    for i in range(n):
        x, y = centers[i]
        r = radii[i]
        if x - r < -1e-6 or x + r > 1 + 1e-6 or y - r < -1e-6 or y + r > 1 + 1e-6:
            details["boundary_violations"].append(f"Circle {i} at ({x:.6f}, {y:.6f}) with radius {r:.6f}")
    for i in range(n):
        for j in range(i + 1, n):
            dist = np.sqrt(np.sum((centers[i] - centers[j]) ** 2))
            if dist < radii[i] + radii[j] - 1e-6:
                details["overlaps"].append(
                    f"Circles {i} and {j}: dist={dist:.6f}, r1+r2={radii[i] + radii[j]:.6f}"
                )
    valid = not details["boundary_violations"] and not details["overlaps"]
    return valid, details


def run_with_timeout(program_path, timeout_seconds=20):
    """Run the program's run_packing() in a separate process; returns (centers, radii, sum_radii)"""
    with tempfile.TemporaryDirectory() as tmp:
        results_path = os.path.join(tmp, "results.pkl")
        process = subprocess.Popen(
            [sys.executable, "-c", RUNNER, program_path, results_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            _stdout, stderr = process.communicate(timeout=timeout_seconds)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.wait()
            raise TimeoutError(f"Process timed out after {timeout_seconds} seconds") from exc
        if stderr:
            print(f"Subprocess stderr: {stderr.decode()}")
        if process.returncode != 0:
            raise RuntimeError(f"Process exited with code {process.returncode}")
        if not os.path.exists(results_path):
            raise RuntimeError("Results file not found")
        with open(results_path, "rb") as f:
            results = pickle.load(f)
    if "error" in results:
        raise RuntimeError(f"Program execution failed: {results['error']}")
    return np.asarray(results["centers"]), np.asarray(results["radii"]), results["sum_radii"]


def evaluate(program_path):
    """
    Evaluate the packing: the sum of radii of a valid packing, relative to the target

    Returns:
        EvaluationResult with metrics and artifacts
    """
    try:
        start_time = time.time()
        centers, radii, reported_sum = run_with_timeout(program_path, timeout_seconds=60)
        eval_time = time.time() - start_time

        if centers.shape != (26, 2) or radii.shape != (26,):
            shape_error = (
                f"Invalid shapes: centers={centers.shape}, radii={radii.shape}, expected (26, 2) and (26,)"
            )
            return EvaluationResult(
                metrics={"sum_radii": 0.0, "target_ratio": 0.0, "validity": 0.0, "combined_score": 0.0},
                artifacts={"stderr": shape_error, "failure_stage": "shape_validation"},
            )

        valid, details = validate_packing(centers, radii)
        sum_radii = float(np.sum(radii)) if valid else 0.0
        target_ratio = sum_radii / TARGET_VALUE
        artifacts = {
            "execution_time": f"{eval_time:.2f}s",
            "packing_summary": f"Sum of radii: {sum_radii:.6f}/{TARGET_VALUE} = {target_ratio:.4f}",
            "validation_report": (
                f"Valid: {valid}, Violations: {len(details['boundary_violations'])} boundary, "
                f"{len(details['overlaps'])} overlaps"
            ),
            "radius_stats": f"Min: {details['min_radius']:.6f}, Max: {details['max_radius']:.6f}",
        }
        if not valid:
            artifacts["boundary_violations"] = "\n".join(details["boundary_violations"])
            artifacts["overlap_violations"] = "\n".join(details["overlaps"])
            artifacts["failure_stage"] = "geometric_validation"
        if abs(float(np.sum(radii)) - reported_sum) > 1e-6:
            artifacts["sum_mismatch"] = f"Reported: {reported_sum:.6f}, Calculated: {np.sum(radii):.6f}"

        return EvaluationResult(
            metrics={
                "sum_radii": sum_radii,
                "target_ratio": float(target_ratio),
                "validity": 1.0 if valid else 0.0,
                "eval_time": float(eval_time),
                "combined_score": float(target_ratio),
            },
            artifacts=artifacts,
        )
    except Exception as e:
        return EvaluationResult(
            metrics={"sum_radii": 0.0, "target_ratio": 0.0, "validity": 0.0, "combined_score": 0.0},
            artifacts={
                "stderr": f"Evaluation failed completely: {e}",
                "traceback": traceback.format_exc(),
                "failure_stage": "program_execution",
                "suggestion": "Check for syntax errors, import issues, or runtime exceptions",
            },
        )


# Stage-based evaluation for cascade evaluation
def evaluate_stage1(program_path):
    """First stage: a quick check that the packing has the right shape and is valid"""
    try:
        centers, radii, _ = run_with_timeout(program_path, timeout_seconds=30)
        if centers.shape != (26, 2) or radii.shape != (26,):
            return EvaluationResult(
                metrics={"validity": 0.0, "combined_score": 0.0},
                artifacts={
                    "stderr": f"Invalid shapes: {centers.shape}, {radii.shape}",
                    "failure_stage": "stage1",
                },
            )
        valid, _details = validate_packing(centers, radii)
        actual_sum = float(np.sum(radii)) if valid else 0.0
        return EvaluationResult(
            metrics={"validity": 1.0 if valid else 0.0, "combined_score": actual_sum / TARGET_VALUE},
            artifacts={"stage": "quick_validation", "packing_summary": f"Sum: {actual_sum:.6f}"},
        )
    except Exception as e:
        return EvaluationResult(
            metrics={"validity": 0.0, "combined_score": 0.0},
            artifacts={"stderr": str(e), "failure_stage": "stage1", "traceback": traceback.format_exc()},
        )


def evaluate_stage2(program_path):
    """Second stage: the full evaluation"""
    return evaluate(program_path)
