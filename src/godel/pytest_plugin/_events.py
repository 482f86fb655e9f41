"""Failure events: one JSON object per line of ``reports/events.ndjson``, and reading them back grouped.

A line is written with a single ``os.write`` on a descriptor opened with ``O_APPEND``: the kernel places each such
write at the end of the file whole, so the workers of a ``pytest -n`` run (each with its own descriptor) never
interleave their lines. Every text field is redacted (:func:`godel.redact.redact`) before it is stored, and the
signature is computed from the redacted text, so a secret never reaches the file nor decides a grouping.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from godel.errors import UsageError
from godel.redact import redact

__all__ = [
    "MAX_MESSAGE",
    "MAX_STACK",
    "EventGroup",
    "EventLog",
    "EventWriter",
    "group_events",
    "make_event",
    "read_events",
    "repro_command",
    "signature",
    "split_error_line",
]

MAX_MESSAGE = 512
MAX_STACK = 4000
FIELDS = (
    "ts",
    "suite",
    "test_id",
    "file",
    "error_class",
    "message",
    "stack",
    "repro_cmd",
    "seed",
    "env",
    "signature",
)


def signature(error_class: str, test_id: str, message: str) -> str:
    """First 16 hex digits of sha256(``error_class|test_id|message``): one failure, however often it recurs."""
    return hashlib.sha256(f"{error_class}|{test_id}|{message}".encode("utf-8", "surrogatepass")).hexdigest()[
        :16
    ]


def repro_command(test_id: str, seed: int, env: Mapping[str, str]) -> str:
    """The command that re-runs one test as it ran: its seed, clock and network settings, a fixed hash seed.

    ``PYTHONHASHSEED`` is the run's own when it was fixed, else 0: a random one cannot be reproduced.
    """
    hash_seed = env.get("PYTHONHASHSEED", "random")
    parts = [f"PYTEST_SEED={seed}", f"PYTHONHASHSEED={hash_seed if hash_seed != 'random' else '0'}"]
    parts += [f"{k}={v}" for k, v in env.items() if k != "PYTHONHASHSEED" and v not in ("", "0")]
    return " ".join([*parts, "pytest", "-q", shlex.quote(test_id)])


# Object addresses ("<Foo object at 0x7f3a...>") differ in every run: masked, so one failure keeps one signature.
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_event(
    *,
    ts: float,
    suite: str,
    test_id: str,
    file: str,
    error_class: str,
    message: str,
    stack: str,
    seed: int,
    env: Mapping[str, str],
    phase: str,
) -> dict[str, Any]:
    """One event, redacted and cut to size: ``message`` keeps its start, ``stack`` its end (where it failed).

    Object addresses in the message are masked (``0x…``) so that the signature is the same in every run.
    """
    test_id = redact(test_id)
    # Cut (with a margin) before redacting, which costs in proportion to the text, then to size: a secret the
    # first cut split lies in the part the second cut removes.
    message = _ADDRESS.sub("0x…", redact(message[: 4 * MAX_MESSAGE]))[:MAX_MESSAGE]
    stack = redact(stack[-2 * MAX_STACK :])[-MAX_STACK:]
    return {
        "ts": _iso(ts),
        "suite": redact(suite),
        "test_id": test_id,
        "file": redact(file),
        "error_class": error_class,
        "message": message,
        "stack": stack,
        "repro_cmd": repro_command(test_id, seed, env),
        "seed": seed,
        "env": dict(env),
        "signature": signature(error_class, test_id, message),
        "phase": phase,
    }


# "E   ValueError: bad" in pytest's text of a failure: the exception's class and message when only the text is left.
_ERROR_LINE = re.compile(
    r"^E\s+([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Failed|Timeout)):\s?(.*)$"
)


def split_error_line(text: str) -> tuple[str, str] | None:
    """The last ``E   SomeError: message`` line of a failure's text, as (class, message)."""
    found = None
    for line in text.splitlines():
        m = _ERROR_LINE.match(line)
        if m:
            found = (m.group(1), m.group(2))
    return found


class EventWriter:
    """Appends events to one file; the file and its folder are made on the first failure, never before."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._fd: int | None = None

    def write(self, event: Mapping[str, Any]) -> None:
        line = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode(
            "utf-8", "replace"
        )
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        view = memoryview(line)
        # One write puts the whole line down; a short write (a full disk, a signal) is finished rather than lost.
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self.written += 1

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


@dataclass(frozen=True)
class EventLog:
    """The events of a file, in the order they were written, and how many of its lines were not events."""

    path: Path
    events: list[dict[str, Any]]
    malformed: int


def read_events(path: Path) -> EventLog:
    """Every well-formed event of ``path``; a line that is not one (a torn last line, an edit) is counted.

    Raises :class:`~godel.errors.UsageError` when the file cannot be read.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror or exc}", hint="pass --path to an events file"
        ) from exc
    events: list[dict[str, Any]] = []
    malformed = 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            malformed += 1
            continue
        if isinstance(doc, dict) and isinstance(doc.get("signature"), str) and isinstance(doc.get("ts"), str):
            events.append(doc)
        else:
            malformed += 1
    return EventLog(path=path, events=events, malformed=malformed)


@dataclass(frozen=True)
class EventGroup:
    """All events of one signature: how often, when first and last, and how to re-run it (the latest command)."""

    signature: str
    count: int
    first_seen: str
    last_seen: str
    test_id: str
    file: str
    error_class: str
    message: str
    repro_cmd: str
    suites: tuple[str, ...]
    phases: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "test_id": self.test_id,
            "file": self.file,
            "error_class": self.error_class,
            "message": self.message,
            "repro_cmd": self.repro_cmd,
            "suites": list(self.suites),
            "phases": list(self.phases),
        }


def group_events(events: Iterable[Mapping[str, Any]]) -> list[EventGroup]:
    """Events grouped by signature, the most frequent first (then the most recent)."""
    by_sig: dict[str, list[Mapping[str, Any]]] = {}
    for e in events:
        by_sig.setdefault(str(e["signature"]), []).append(e)
    groups = []
    for sig, items in by_sig.items():
        # ISO 8601 UTC stamps of one shape sort as text.
        items = sorted(items, key=lambda e: str(e.get("ts", "")))
        last = items[-1]
        groups.append(
            EventGroup(
                signature=sig,
                count=len(items),
                first_seen=str(items[0].get("ts", "")),
                last_seen=str(last.get("ts", "")),
                test_id=str(last.get("test_id", "")),
                file=str(last.get("file", "")),
                error_class=str(last.get("error_class", "")),
                message=str(last.get("message", "")),
                repro_cmd=str(last.get("repro_cmd", "")),
                suites=tuple(sorted({str(e.get("suite", "")) for e in items})),
                phases=tuple(sorted({str(e.get("phase", "")) for e in items} - {""})),
            )
        )
    groups.sort(key=lambda g: g.last_seen, reverse=True)
    groups.sort(key=lambda g: g.count, reverse=True)  # stable: equal counts stay most recent first
    return groups
