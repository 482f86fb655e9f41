"""Source of the evaluation harness that runs *inside* the sandbox.

It imports the task's evaluator, calls one stage function on the candidate's path and writes one JSON document to
the result channel (fd 3). It must only use the standard library: it runs in a fresh, empty interpreter.
"""

from __future__ import annotations

__all__ = ["HARNESS"]

HARNESS = r"""
import importlib.util, json, math, os, sys, traceback

def _emit(doc):
    data = json.dumps(doc, default=str).encode()
    view = memoryview(data)
    while view:
        n = os.write(3, view)
        view = view[n:]

def _split(result):
    metrics, artifacts = {}, {}
    if hasattr(result, "metrics") and not isinstance(result, dict):
        # OpenEvolve's EvaluationResult(metrics=..., artifacts=...)
        artifacts.update({str(k): v for k, v in dict(getattr(result, "artifacts", None) or {}).items()})
        result = dict(result.metrics)
    if not isinstance(result, dict):
        raise TypeError("evaluator returned %s, expected a dict of metrics" % type(result).__name__)
    for key, value in result.items():
        if isinstance(value, bool):
            metrics[str(key)] = float(value)
        elif isinstance(value, (int, float)):
            metrics[str(key)] = float(value)
        else:
            try:
                import numbers
                if isinstance(value, numbers.Real):
                    metrics[str(key)] = float(value)
                    continue
            except Exception:
                pass
            artifacts[str(key)] = value if isinstance(value, str) else repr(value)
    for key, value in list(artifacts.items()):
        if not isinstance(value, str):
            artifacts[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else repr(value)
    return metrics, artifacts

def main():
    stage, program, evaluator = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    sys.path.insert(0, os.path.dirname(evaluator))
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
        metrics, artifacts = _split(result)
    except BaseException as exc:
        _emit({"phase": "evaluate", "error": "%s: %s" % (type(exc).__name__, exc), "traceback": traceback.format_exc()[-4000:]})
        return
    _emit({"phase": "done", "metrics": metrics, "artifacts": artifacts})

main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""
