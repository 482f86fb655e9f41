"""The guard: an enforced constitution, static hacking checks, hacking detection, approvals and the audit trail
(hash chains with checkpoints signed by a key the archive never holds)."""

from godel.config import GuardConfig
from godel.guard._approvals import QueueItem, approve, expire, list_queue, reject
from godel.guard._audit import (
    BadRecord,
    TrailLog,
    VerifyReport,
    export_jsonl,
    read_jsonl,
    read_log,
    verify_archive,
    verify_chain,
)
from godel.guard._base import Decision, Detector, Gate, Guard, Verdict
from godel.guard._checkpoint import (
    DEFAULT_EVERY,
    Checkpointer,
    append_checkpoint_log,
    checkpoint,
    checkpoint_valid,
    export_checkpoints,
    sign_checkpoint,
)
from godel.guard._constitution import (
    Constitution,
    LoadedConstitution,
    load_constitution,
    sign_constitution,
)
from godel.guard._detect import HackingDetector
from godel.guard._factory import make_guard
from godel.guard._gate import ConstitutionGate
from godel.guard._keys import (
    KEY_ENV,
    KEY_FILE_ENV,
    AuditKey,
    AuditKeyCreated,
    PublicKey,
    default_key_path,
    find_audit_key,
    load_audit_key,
    load_public_key,
)
from godel.guard._trail import Problem, RunAudit, TrailReport, check_archive, verify_log, verify_trail
from godel.guard.rules import CHECKS

__all__ = [
    "CHECKS",
    "DEFAULT_EVERY",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "AuditKey",
    "AuditKeyCreated",
    "BadRecord",
    "Checkpointer",
    "Constitution",
    "ConstitutionGate",
    "Decision",
    "Detector",
    "Gate",
    "Guard",
    "GuardConfig",
    "HackingDetector",
    "LoadedConstitution",
    "Problem",
    "PublicKey",
    "QueueItem",
    "RunAudit",
    "TrailLog",
    "TrailReport",
    "Verdict",
    "VerifyReport",
    "append_checkpoint_log",
    "approve",
    "check_archive",
    "checkpoint",
    "checkpoint_valid",
    "default_key_path",
    "expire",
    "export_checkpoints",
    "export_jsonl",
    "find_audit_key",
    "list_queue",
    "load_audit_key",
    "load_constitution",
    "load_public_key",
    "make_guard",
    "read_jsonl",
    "read_log",
    "reject",
    "sign_checkpoint",
    "sign_constitution",
    "verify_archive",
    "verify_chain",
    "verify_log",
    "verify_trail",
]
