"""The constitution: a YAML file of three tiers, validated strictly, pinned by its SHA-256 and optionally signed.

* ``deny``: immutable constraints. A proposal that trips one is rejected; no human can approve it.
* ``require_approval``: supervised operations. The candidate waits in the approval queue; ``approval`` says how long
  and what happens when nobody answers.
* ``allow``: autonomous operations within stated limits (diff size, file size, which modules may be imported).

Anything a proposal does that no ``allow`` entry covers gets ``default`` (``require_approval`` or ``deny``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from godel.config import Strict
from godel.errors import GuardError
from godel.guard.rules import CHECKS

__all__ = [
    "DEFAULT_CONSTITUTION",
    "Allowance",
    "ApprovalPolicy",
    "Constitution",
    "LoadedConstitution",
    "Rule",
    "load_constitution",
    "sign_constitution",
]

DEFAULT_CONSTITUTION = "default_constitution.yaml"
_ID = r"^[a-z0-9][a-z0-9_\-]{0,63}$"


class Rule(Strict):
    """One machine-checked rule: which check runs, with which parameters."""

    id: str = Field(pattern=_ID)
    check: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("check")
    @classmethod
    def _known_check(cls, v: str) -> str:
        if v not in CHECKS:
            raise ValueError(f"unknown check {v!r}; known checks: {', '.join(sorted(CHECKS))}")
        return v

    @model_validator(mode="after")
    def _valid_params(self) -> Rule:
        # Validated here so a typo in a parameter fails at start, not at the first proposal; re-raised with the
        # path under `params` (pydantic would report a nested model's errors as if they were the rule's own keys).
        try:
            CHECKS[self.check].params_model.model_validate(self.params)
        except ValidationError as exc:
            raise ValueError(_format(exc, prefix="params.")) from exc
        return self


class Allowance(Strict):
    """An autonomous operation and its limits."""

    operation: Literal["edit", "add_file", "delete_file", "import"]
    description: str = ""
    max_diff_lines: int | None = Field(None, ge=1)
    max_file_bytes: int | None = Field(None, ge=1)
    paths: tuple[str, ...] = Field(("*",), description="glob patterns of program files this covers")
    modules: tuple[str, ...] = Field(
        (), description="import: module patterns ('numpy', 'numpy.*', '@stdlib' for the standard library)"
    )


class ApprovalPolicy(Strict):
    timeout_seconds: float = Field(86400.0, gt=0)
    on_timeout: Literal["reject", "approve"] = "reject"
    flagged_on_timeout: Literal["keep", "reject"] = Field(
        "keep", description="what happens to a flagged (already evaluated) candidate nobody reviewed in time"
    )


class Constitution(Strict):
    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    default: Literal["deny", "require_approval"] = "require_approval"
    approval: ApprovalPolicy = ApprovalPolicy()
    deny: tuple[Rule, ...] = ()
    require_approval: tuple[Rule, ...] = ()
    allow: tuple[Allowance, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> Constitution:
        seen: set[str] = set()
        for rule in (*self.deny, *self.require_approval):
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return self


@dataclass(frozen=True)
class LoadedConstitution:
    constitution: Constitution
    path: Path
    sha256: str
    source: str  # "task" | "config" | "default"
    signed: bool

    def verify_unchanged(self) -> None:
        """Raise :class:`GuardError` when the file on disk no longer has the hash recorded at start."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise GuardError(
                f"constitution {self.path} can no longer be read ({exc}); refusing to make decisions",
                hint="restore the file; a run's constitution must not change while it runs",
            ) from exc
        now = hashlib.sha256(data).hexdigest()
        if now != self.sha256:
            raise GuardError(
                f"constitution {self.path} changed during the run (sha256 {self.sha256[:12]}... at start, "
                f"{now[:12]}... now); refusing to make decisions",
                hint="restore the original file, or start a new run to adopt the new constitution",
            )


def default_constitution_path() -> Path:
    return Path(str(resources.files("godel.guard").joinpath(DEFAULT_CONSTITUTION)))


def _signature_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def sign_constitution(path: str | Path, key: bytes | str) -> str:
    """Write ``<path>.sig`` holding the hex HMAC-SHA256 of the file under ``key``; returns the signature."""
    p = Path(path)
    k = key.encode() if isinstance(key, str) else key
    sig = hmac.new(k, p.read_bytes(), hashlib.sha256).hexdigest()
    _signature_path(p).write_text(sig + "\n")
    return sig


def _check_signature(path: Path, data: bytes, key_env: str, required: bool) -> bool:
    sig_path = _signature_path(path)
    if not sig_path.exists():
        if required:
            raise GuardError(
                f"constitution {path} has no signature ({sig_path.name} missing) and guard.require_signature "
                "is set",
                hint=f"sign it with `godel constitution sign {path}` (key in ${key_env})",
            )
        return False
    key = os.environ.get(key_env)
    if not key:
        raise GuardError(
            f"constitution {path} is signed but ${key_env} is not set, so the signature cannot be checked",
            hint=f"export {key_env} with the signing key",
        )
    want = hmac.new(key.encode(), data, hashlib.sha256).hexdigest()
    got = sig_path.read_text().strip()
    if not hmac.compare_digest(want, got):
        raise GuardError(
            f"constitution {path}: HMAC signature does not match (file edited after signing, or wrong key)",
            hint="restore the signed file or re-sign it with the right key",
        )
    return True


def _format(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors():
        loc = prefix + ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "value_error":
            # A validator's own message (a rule's params, above) already names its field.
            msg = msg.removeprefix("Value error, ")
            if msg.startswith("params."):
                parts.append(f"{loc}.{msg}")
                continue
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def load_constitution(
    path: str | Path | None,
    *,
    source: str = "config",
    key_env: str = "GODEL_CONSTITUTION_KEY",
    require_signature: bool = False,
) -> LoadedConstitution:
    """Load, validate and hash a constitution (the shipped default when ``path`` is None).

    Every problem (missing file, YAML error, unknown key, unknown check, bad parameter, bad signature) is a
    :class:`GuardError` naming the file and the field.
    """
    if path is None:
        p, source = default_constitution_path(), "default"
    else:
        p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise GuardError(
            f"constitution {p} not found",
            hint="fix guard.constitution in godel.toml, or remove it to use godel's default constitution",
        ) from exc
    except OSError as exc:
        raise GuardError(f"cannot read constitution {p}: {exc}") from exc
    sha = hashlib.sha256(data).hexdigest()
    signed = _check_signature(p, data, key_env, require_signature)
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise GuardError(
            f"constitution {p} is not valid YAML: {exc}", hint="fix the syntax error shown"
        ) from exc
    if not isinstance(doc, dict):
        raise GuardError(
            f"constitution {p} must be a mapping with name, default, deny, require_approval, allow; "
            f"got {type(doc).__name__}",
            hint="see docs/guard.md for the format",
        )
    try:
        constitution = Constitution.model_validate(doc)
    except ValidationError as exc:
        raise GuardError(
            f"invalid constitution {p}: {_format(exc)}", hint="see docs/guard.md for the format"
        ) from exc
    return LoadedConstitution(constitution, p.resolve(), sha, source, signed)
