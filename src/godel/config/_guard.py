"""``[guard]``: the constitution, the static checks and the hacking detectors."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from godel.config._model import Strict

__all__ = ["GuardConfig"]


class GuardConfig(Strict):
    """``[guard]`` in godel.toml."""

    enabled: bool = Field(True, description="check proposals and results against the constitution")
    constitution: str | None = Field(
        None,
        description="path to the constitution YAML, relative to the task; default: the task's constitution.yaml "
        "if present, else the constitution shipped with godel",
    )
    default: Literal["deny", "require_approval"] | None = Field(
        None, description="decision for operations no rule allows; overrides the constitution's own default"
    )
    hmac_key_env: str = Field(
        "GODEL_CONSTITUTION_KEY",
        description="environment variable holding the key that signs the constitution",
    )
    require_signature: bool = Field(
        False, description="refuse to start unless the constitution has a valid HMAC signature (<file>.sig)"
    )
    protected: tuple[str, ...] = Field(
        (), description="extra glob patterns (relative to the task) of files the guard protects by hash"
    )
    # objective-hacking detection
    holdout_evaluator: str | None = Field(
        None, description="a second evaluator file (relative to the task) the candidate never sees"
    )
    gap_threshold: float = Field(
        0.1, ge=0, description="flag when visible - hold-out score exceeds this (relative to |visible| if >1)"
    )
    gap_sigma: float = Field(
        4.0,
        gt=0,
        description="and only when the gap grew by this many standard deviations of the measured noise",
    )
    k_sigma: float = Field(
        4.0,
        gt=0,
        description="score-jump alarm: flag a gain above k standard deviations of the recent scores",
    )
    jump_noise_sigma: float = Field(
        4.0,
        gt=0,
        description="and only a gain this many standard deviations of the measured noise above the parent",
    )
    jump_min_history: int = Field(5, ge=2, description="scores needed before the score-jump alarm arms")
    jump_window: int = Field(50, ge=2, description="recent scores the score-jump alarm looks at")
    jump_min_delta: float = Field(
        1e-9, ge=0, description="gains smaller than this never raise the score-jump alarm"
    )
    canary_markers: tuple[str, ...] = Field(
        ("GODEL-CANARY",),
        description="substrings whose presence in the parent's code or output and absence in the child's is gaming",
    )
    rerun: bool = Field(
        True, description="re-evaluate suspicious winners and flag scores that do not reproduce"
    )
    rerun_sigma: float = Field(
        4.0, gt=0, description="a re-run may differ by this many standard deviations of the measured noise"
    )
    rerun_tolerance: float = Field(
        1e-6,
        ge=0,
        description="difference a re-run may show when the evaluator is exact or no noise was measured",
    )
    audit_key_file: str | None = Field(
        None,
        description="the Ed25519 key that signs the audit trail's checkpoints; default $GODEL_AUDIT_KEY, else "
        "$GODEL_AUDIT_KEY_FILE, else ~/.config/godel/audit-key.pem (created on first use)",
    )
    checkpoint_every: int = Field(100, ge=1, description="sign an audit checkpoint every this many events")
    checkpoint_log: str | None = Field(
        None,
        description="also append every checkpoint to this file, outside the archive (an append-only witness)",
    )
    max_diff_lines: int = Field(2000, ge=1, description="hard cap on a proposal's diff size (deny above)")
    approval_timeout_seconds: float | None = Field(
        None, gt=0, description="overrides the constitution's approval timeout"
    )
