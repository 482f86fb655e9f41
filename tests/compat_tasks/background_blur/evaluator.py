"""
Evaluator for the background blur example. It uses the helpers OpenEvolve ships for evaluators
(metrics_utils, format_utils) and returns a preview of the blurred image as a binary artifact.
"""

import importlib.util
import time
import traceback

import numpy as np
import openevolve
from openevolve.evaluation_result import EVALUATION_FAILED_METRIC, EvaluationResult
from openevolve.utils.format_utils import format_metrics_safe
from openevolve.utils.metrics_utils import get_fitness_score, safe_numeric_average

SIZE = 48


def make_image():
    """A test card: a bright disc on a gradient with some noise"""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    disc = ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.08).astype(float)
    return np.clip(0.3 * xx + 0.6 * disc + 0.05 * rng.standard_normal((SIZE, SIZE)), 0.0, 1.0)


def gaussian_reference(image, sigma=1.5):
    radius = int(3 * sigma)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    padded = np.pad(image, radius, mode="edge")
    rows = sum(
        w * padded[:, radius + o : radius + o + image.shape[1]] for w, o in zip(kernel, offsets, strict=True)
    )
    return sum(
        w * rows[radius + o : radius + o + image.shape[0], :] for w, o in zip(kernel, offsets, strict=True)
    )


def to_pgm(image):
    """The image as binary PGM bytes, the kind of artifact OpenEvolve stores as a file"""
    pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    return b"P5 %d %d 255\n" % (pixels.shape[1], pixels.shape[0]) + pixels.tobytes()


def evaluate(program_path):
    try:
        spec = importlib.util.spec_from_file_location("program", program_path)
        program = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(program)

        image = make_image()
        reference = gaussian_reference(image)
        start = time.perf_counter()
        result = np.asarray(program.run_blur(image), dtype=float)
        elapsed = time.perf_counter() - start
        if result.shape != image.shape:
            return EvaluationResult(
                metrics={EVALUATION_FAILED_METRIC: 1.0, "combined_score": 0.0},
                artifacts={"error": f"blur returned shape {result.shape}, expected {image.shape}"},
            )

        error = float(np.sqrt(np.mean((result - reference) ** 2)))
        metrics = {
            "accuracy_score": 1.0 / (1.0 + 20.0 * error),
            "speed_score": 1.0 / (1.0 + 1000.0 * elapsed),
        }
        metrics["balance"] = safe_numeric_average(metrics)
        metrics["combined_score"] = 0.8 * metrics["accuracy_score"] + 0.2 * metrics["speed_score"]
        assert get_fitness_score(metrics) == metrics["combined_score"]

        return EvaluationResult(
            metrics=metrics,
            artifacts={
                "summary": format_metrics_safe(metrics),
                "rmse": f"{error:.5f} against a Gaussian blur (sigma 1.5)",
                "openevolve_version": openevolve.__version__,
                "preview.pgm": to_pgm(result),
            },
        )
    except Exception as e:
        return EvaluationResult(
            metrics={"combined_score": 0.0},
            artifacts={"error": str(e), "traceback": traceback.format_exc()},
        )
