"""The guard: an enforced constitution, static hacking checks, hacking detection, approvals and the audit trail.

Names are loaded lazily: :mod:`godel.config` imports ``godel.guard._config`` while it is itself being imported, and
the guard's implementation needs the configuration, the archive and the candidate types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from godel.guard._approvals import QueueItem, approve, expire, list_queue, reject
    from godel.guard._audit import (
        BadRecord,
        VerifyReport,
        export_jsonl,
        read_jsonl,
        verify_archive,
        verify_chain,
    )
    from godel.guard._base import Decision, Guard, Verdict
    from godel.guard._config import GuardConfig
    from godel.guard._constitution import (
        Constitution,
        LoadedConstitution,
        load_constitution,
        sign_constitution,
    )
    from godel.guard._guard import ConstitutionGuard, EvaluateFn, make_guard
    from godel.guard._rules import CHECKS

_WHERE = {
    "QueueItem": "_approvals",
    "approve": "_approvals",
    "expire": "_approvals",
    "list_queue": "_approvals",
    "reject": "_approvals",
    "BadRecord": "_audit",
    "VerifyReport": "_audit",
    "export_jsonl": "_audit",
    "read_jsonl": "_audit",
    "verify_archive": "_audit",
    "verify_chain": "_audit",
    "Decision": "_base",
    "Guard": "_base",
    "Verdict": "_base",
    "GuardConfig": "_config",
    "Constitution": "_constitution",
    "LoadedConstitution": "_constitution",
    "load_constitution": "_constitution",
    "sign_constitution": "_constitution",
    "ConstitutionGuard": "_guard",
    "EvaluateFn": "_guard",
    "make_guard": "_guard",
    "CHECKS": "_rules",
}

__all__ = [
    "CHECKS",
    "BadRecord",
    "Constitution",
    "ConstitutionGuard",
    "Decision",
    "EvaluateFn",
    "Guard",
    "GuardConfig",
    "LoadedConstitution",
    "QueueItem",
    "Verdict",
    "VerifyReport",
    "approve",
    "expire",
    "export_jsonl",
    "list_queue",
    "load_constitution",
    "make_guard",
    "read_jsonl",
    "reject",
    "sign_constitution",
    "verify_archive",
    "verify_chain",
]


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'godel.guard' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"godel.guard.{mod}"), name)
    globals()[name] = value
    return value
