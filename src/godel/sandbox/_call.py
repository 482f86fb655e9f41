"""Calling into candidate code across the sandbox: the helper for trusted evaluators.

The evaluator (trusted) runs outside the sandbox and never imports the candidate. It calls
``call_candidate(program, "solve", args=[...])``: the candidate is imported and the function called *inside* the
sandbox, arguments go in as JSON, and what comes back is plain data (JSON types only) that the evaluator must
validate itself before scoring. The candidate controls everything inside its sandbox, including what it reports,
so a returned value is evidence to check, never a score to trust.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from godel.errors import GodelError, SandboxError
from godel.sandbox._base import Job, Limits, Sandbox, SandboxResult

__all__ = ["CandidateCallError", "call_candidate"]

_ARGS_FILE = "__godel_call__.json"

# Runs inside the sandbox; standard library only.
_RUNNER = r"""
import importlib.util, json, os, sys, traceback

def _emit(doc):
    data = json.dumps(doc).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(3, view):]

def main():
    module_file, function = sys.argv[1], sys.argv[2]
    with open(ARGS_FILE) as fh:
        args, kwargs = json.load(fh)
    os.remove(ARGS_FILE)
    try:
        name = os.path.splitext(os.path.basename(module_file))[0]
        spec = importlib.util.spec_from_file_location(name, module_file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        fn = getattr(module, function)
    except BaseException as exc:
        _emit({"ok": False, "phase": "import", "error": "%s: %s" % (type(exc).__name__, exc),
               "traceback": traceback.format_exc()[-4000:]})
        return
    try:
        value = fn(*args, **kwargs)
    except BaseException as exc:
        _emit({"ok": False, "phase": "call", "error": "%s: %s" % (type(exc).__name__, exc),
               "traceback": traceback.format_exc()[-4000:]})
        return
    try:
        _emit({"ok": True, "value": value})
    except (TypeError, ValueError) as exc:
        _emit({"ok": False, "phase": "return", "error": "returned a value that is not plain data: %s" % exc})

main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
""".replace("ARGS_FILE", repr(_ARGS_FILE))


class CandidateCallError(GodelError):
    """The candidate's function did not return plain data: it raised, timed out, hit a limit or misbehaved.

    ``termination`` is the sandbox's verdict (``error``, ``timeout``, ``cpu_limit``...), ``phase`` where it failed
    (``import``, ``call``, ``return``, ``sandbox``), ``result`` the full sandbox result for the record.
    """

    def __init__(
        self, message: str, *, termination: str, phase: str, result: SandboxResult, traceback: str = ""
    ) -> None:
        super().__init__(message)
        self.termination = termination
        self.phase = phase
        self.result = result
        self.traceback = traceback


def _program(program: str | os.PathLike[str]) -> tuple[str, bytes]:
    if isinstance(program, os.PathLike) or ("\n" not in program and os.path.isfile(program)):
        path = Path(program)
        return path.name, path.read_bytes()
    return "candidate.py", program.encode()


def call_candidate(
    program: str | os.PathLike[str],
    function: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    sandbox: Sandbox,
    limits: Limits | None = None,
    files: Mapping[str, bytes] | None = None,
) -> Any:
    """Import ``program`` (a path or Python source) inside ``sandbox``, call ``function(*args, **kwargs)`` there and
    return its value as plain data (JSON types: dict, list, str, int, float, bool, None; tuples become lists).

    Raises :class:`CandidateCallError` when the candidate fails in any way, and
    :class:`~godel.errors.SandboxError` when the sandbox itself could not run the call.
    """
    name, source = _program(program)
    try:
        payload = json.dumps([list(args), dict(kwargs or {})]).encode()
    except (TypeError, ValueError) as exc:
        raise SandboxError(f"arguments for {function} are not plain data: {exc}") from exc
    job_files = dict(files or {})
    job_files[name] = source
    job_files[_ARGS_FILE] = payload
    res = sandbox.run(
        Job(
            code=_RUNNER,
            files=job_files,
            argv=(name, function),
            limits=limits or Limits(),
            label=f"call {function}",
        )
    )
    if res.result is None:
        why = res.reason or f"exit code {res.exit_code}"
        raise CandidateCallError(
            f"{function} produced no result ({res.termination}: {why})",
            termination=res.termination,
            phase="sandbox",
            result=res,
        )
    try:
        doc = json.loads(res.result)
    except (ValueError, UnicodeDecodeError):
        raise CandidateCallError(
            f"{function} produced a malformed result ({len(res.result)} bytes that are not one JSON document)",
            termination="error",
            phase="return",
            result=res,
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ok"), bool):
        raise CandidateCallError(
            f"{function} produced a malformed result document",
            termination="error",
            phase="return",
            result=res,
        )
    if not res.ok and res.termination != "error":
        # A limit ended the run after something was written: the limit is the verdict.
        raise CandidateCallError(
            f"{function} ended by {res.termination}: {res.reason}",
            termination=res.termination,
            phase="sandbox",
            result=res,
        )
    if not doc["ok"]:
        raise CandidateCallError(
            f"{function} failed while {'importing the candidate' if doc.get('phase') == 'import' else 'running'}: "
            f"{doc.get('error')}",
            termination="error",
            phase=str(doc.get("phase", "call")),
            result=res,
            traceback=str(doc.get("traceback", "")),
        )
    return doc.get("value")
