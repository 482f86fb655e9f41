"""Source of the evaluation harness that runs *inside* the sandbox, and of the files it brings along.

The harness imports the task's evaluator, calls one stage function on the candidate's path and writes one JSON
document to the result channel (fd 3). It must only use the standard library: it runs in a fresh, empty
interpreter.

:data:`COMPAT_FILES` is a small ``openevolve`` package (the part of OpenEvolve 0.4 an evaluator imports:
``openevolve.evaluation_result.EvaluationResult`` and the metric helpers of ``openevolve.utils``). Evaluate places
it in every job under :data:`COMPAT_DIR`, and the harness puts that folder first on the evaluator's ``sys.path``
and on ``PYTHONPATH`` (for the Python processes an evaluator starts). The sources live here as text, never as a
package: godel's own process can never import ``openevolve``, and nothing is installed into the user's
site-packages.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["COMPAT_DIR", "COMPAT_FILES", "HARNESS"]

COMPAT_DIR = "_godel_site"

HARNESS = r"""
import importlib.util, json, math, numbers, os, sys, traceback

def _emit(doc):
    data = json.dumps(doc, default=str).encode()
    view = memoryview(data)
    while view:
        n = os.write(3, view)
        view = view[n:]

def _text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return "<%d bytes of binary data>" % len(value)
    return repr(value)

def _kind(value):
    # What a value that is not a number is, for a message that names it: ["bool", "True"].
    t = type(value)
    name = t.__name__ if t.__module__ == "builtins" else "%s.%s" % (t.__module__.split(".")[0], t.__name__)
    shown = repr(value)
    return [name, shown if len(shown) <= 60 else shown[:57] + "..."]

def _split(result):
    # -> (metrics: real numbers as floats, artifacts: text, not_numbers: key -> [type, repr] of the other values
    # the evaluator reported as metrics). A bool is not a number here: True must never become a score of 1.0.
    metrics, artifacts, not_numbers = {}, {}, {}
    if not isinstance(result, dict):
        if not hasattr(result, "metrics"):
            raise TypeError("evaluator returned %s, expected a dict of metrics or an EvaluationResult"
                            % type(result).__name__)
        # OpenEvolve's EvaluationResult(metrics=..., artifacts=...), godel's own, or a look-alike.
        for key, value in dict(getattr(result, "artifacts", None) or {}).items():
            artifacts[str(key)] = _text(value)
        result = result.metrics
        if not isinstance(result, dict):
            raise TypeError("EvaluationResult.metrics is %s, expected a dict" % type(result).__name__)
    for key, value in result.items():
        key = str(key)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                metrics[key] = float(value)
            except OverflowError:
                metrics[key] = math.inf if value > 0 else -math.inf
        else:
            not_numbers[key] = _kind(value)
            artifacts[key] = _text(value)
    return metrics, artifacts, not_numbers

def main():
    stage, program, evaluator = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    if len(sys.argv) > 4:
        site = os.path.abspath(sys.argv[4])
        sys.path.insert(0, site)
        old = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = site + (os.pathsep + old if old else "")
    sys.path.insert(0, os.path.dirname(evaluator))  # the task's own modules win over godel's compat package
    try:
        spec = importlib.util.spec_from_file_location("evaluator", evaluator)
        module = importlib.util.module_from_spec(spec)
        sys.modules["evaluator"] = module
        spec.loader.exec_module(module)
        fn = getattr(module, stage)
    except BaseException as exc:
        _emit({"phase": "load", "error": "%s: %s" % (type(exc).__name__, exc), "traceback": traceback.format_exc()[-4000:]})
        return
    try:
        result = fn(program)
        metrics, artifacts, not_numbers = _split(result)
    except BaseException as exc:
        _emit({"phase": "evaluate", "error": "%s: %s" % (type(exc).__name__, exc), "traceback": traceback.format_exc()[-4000:]})
        return
    _emit({"phase": "done", "metrics": metrics, "artifacts": artifacts, "not_numbers": not_numbers})

main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""

_OE_INIT = '''"""godel's stand-in for the part of OpenEvolve 0.4 that evaluators import.

godel runs OpenEvolve evaluators, not OpenEvolve itself: this package provides
openevolve.evaluation_result (EvaluationResult, EVALUATION_FAILED_METRIC),
openevolve.utils.metrics_utils and openevolve.utils.format_utils, and nothing else.
"""

__version__ = "0.4.0+godel"
__all__ = ["__version__"]


class NotProvidedByGodel(ImportError):
    pass


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(name)
    raise NotProvidedByGodel(
        "openevolve.%s is part of the OpenEvolve engine, which godel does not provide inside its sandbox: "
        "an evaluator can import openevolve.evaluation_result (EvaluationResult), openevolve.utils.metrics_utils "
        "and openevolve.utils.format_utils" % name,
        name="openevolve",
    )
'''

_OE_EVALUATION_RESULT = '''"""EvaluationResult: what an OpenEvolve 0.4 evaluator returns when it has artifacts besides its metrics."""

from dataclasses import dataclass, field

__all__ = ["EVALUATION_FAILED_METRIC", "EvaluationResult"]

EVALUATION_FAILED_METRIC = "__evaluation_failed__"


@dataclass
class EvaluationResult:
    """``metrics``: name -> number (``combined_score``, or the task's metric, is the fitness).
    ``artifacts``: name -> text or bytes, kept with the candidate and shown to the model; never scored."""

    metrics: dict
    artifacts: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, metrics):
        return cls(metrics=dict(metrics))

    def to_dict(self):
        return self.metrics

    def has_artifacts(self):
        return bool(self.artifacts)

    def get_artifact_keys(self):
        return list(self.artifacts)

    def get_artifact_size(self, key):
        if key not in self.artifacts:
            return 0
        value = self.artifacts[key]
        if isinstance(value, (bytes, bytearray)):
            return len(value)
        return len(str(value).encode("utf-8"))

    def get_total_artifact_size(self):
        return sum(self.get_artifact_size(key) for key in self.artifacts)
'''

_OE_METRICS_UTILS = '''"""Metric helpers OpenEvolve 0.4 evaluators call, with OpenEvolve's semantics (ints and floats are numbers; NaN
and everything else is skipped)."""

__all__ = ["format_feature_coordinates", "get_fitness_score", "safe_numeric_average", "safe_numeric_sum"]


def _numbers(metrics):
    out = []
    for value in (metrics or {}).values():
        if isinstance(value, (int, float)):
            try:
                number = float(value)
            except (OverflowError, TypeError, ValueError):
                continue
            if number == number:
                out.append(number)
    return out


def safe_numeric_average(metrics):
    values = _numbers(metrics)
    return sum(values) / len(values) if values else 0.0


def safe_numeric_sum(metrics):
    return float(sum(_numbers(metrics)))


def get_fitness_score(metrics, feature_dimensions=None):
    if not metrics:
        return 0.0
    score = metrics.get("combined_score")
    if isinstance(score, (int, float)):
        return float(score)
    if isinstance(score, (list, tuple)):
        return score
    excluded = set(feature_dimensions or ())
    rest = {k: v for k, v in metrics.items() if k not in excluded}
    return safe_numeric_average(rest) if _numbers(rest) else safe_numeric_average(metrics)


def format_feature_coordinates(metrics, feature_dimensions):
    parts = []
    for name in feature_dimensions:
        if name not in metrics:
            continue
        value = metrics[name]
        try:
            parts.append("%s=%.2f" % (name, float(value)) if isinstance(value, (int, float)) else "%s=%s" % (name, value))
        except (OverflowError, ValueError):
            parts.append("%s=%s" % (name, value))
    return ", ".join(parts)
'''

_OE_FORMAT_UTILS = '''"""Formatting helpers OpenEvolve 0.4 evaluators call for their logs."""

__all__ = ["format_improvement_safe", "format_metrics_safe", "format_score"]


def format_score(value):
    try:
        if isinstance(value, (list, tuple)):
            return "(" + ", ".join("%.4f" % float(v) for v in value) + ")"
        return "%.4f" % float(value)
    except (TypeError, ValueError):
        return str(value)


def format_metrics_safe(metrics):
    parts = []
    for name, value in (metrics or {}).items():
        if isinstance(value, (int, float)):
            parts.append("%s=%s" % (name, format_score(value)))
        else:
            parts.append("%s=%s" % (name, value))
    return ", ".join(parts)


def format_improvement_safe(parent_metrics, child_metrics):
    if not parent_metrics or not child_metrics:
        return ""
    parts = []
    for name, child in child_metrics.items():
        parent = parent_metrics.get(name)
        if isinstance(child, (int, float)) and isinstance(parent, (int, float)):
            parts.append("%s=%s" % (name, format_score(child - parent)))
    return ", ".join(parts)
'''

COMPAT_FILES: Mapping[str, str] = {
    "openevolve/__init__.py": _OE_INIT,
    "openevolve/evaluation_result.py": _OE_EVALUATION_RESULT,
    "openevolve/utils/__init__.py": '"""Helpers of OpenEvolve 0.4 that evaluators import."""\n',
    "openevolve/utils/metrics_utils.py": _OE_METRICS_UTILS,
    "openevolve/utils/format_utils.py": _OE_FORMAT_UTILS,
}
