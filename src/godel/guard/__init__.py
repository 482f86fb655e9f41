"""The guard: an enforced constitution, static hacking checks, hacking detection, approvals and the audit trail."""

from godel.config import GuardConfig
from godel.guard._approvals import QueueItem, approve, expire, list_queue, reject
from godel.guard._audit import (
    BadRecord,
    VerifyReport,
    export_jsonl,
    read_jsonl,
    verify_archive,
    verify_chain,
)
from godel.guard._base import Decision, Detector, Gate, Guard, Verdict
from godel.guard._constitution import (
    Constitution,
    LoadedConstitution,
    load_constitution,
    sign_constitution,
)
from godel.guard._detect import HackingDetector
from godel.guard._factory import make_guard
from godel.guard._gate import ConstitutionGate
from godel.guard.rules import CHECKS

__all__ = [
    "CHECKS",
    "BadRecord",
    "Constitution",
    "ConstitutionGate",
    "Decision",
    "Detector",
    "Gate",
    "Guard",
    "GuardConfig",
    "HackingDetector",
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
