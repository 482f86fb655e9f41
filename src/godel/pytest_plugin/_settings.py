"""The plugin's settings: a command-line option wins over its environment variable, which wins over the default.

Read once per pytest process (``pytest_configure``); a bad value is a usage error that names the variable and
the values it takes, never a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from godel.errors import UsageError

__all__ = [
    "DEFAULT_EVENTS",
    "DEFAULT_FROZEN_AT",
    "DEFAULT_SEED",
    "ENV_ALLOW_NET",
    "ENV_BLOCK_LOOPBACK",
    "ENV_EVENTS",
    "ENV_FREEZE",
    "ENV_SEED",
    "ENV_SUITE",
    "Settings",
    "hash_seed",
    "load_settings",
]

ENV_SEED = "PYTEST_SEED"
ENV_FREEZE = "FREEZE_TIME"
ENV_ALLOW_NET = "ALLOW_NET"
ENV_BLOCK_LOOPBACK = "GODEL_BLOCK_LOOPBACK"
ENV_EVENTS = "GODEL_EVENTS"
ENV_SUITE = "GODEL_SUITE"

DEFAULT_SEED = 1337
DEFAULT_EVENTS = "reports/events.ndjson"
# A fixed instant, not the session's start: a frozen test then sees the same date on every run and machine.
DEFAULT_FROZEN_AT = datetime(2024, 1, 1, tzinfo=UTC)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    """What the plugin does in one pytest process."""

    seed: int
    freeze_time: bool
    frozen_at: datetime
    allow_net: bool
    block_loopback: bool
    events_path: Path
    suite: str

    def env(self) -> dict[str, str]:
        """The settings a failure event reports, as the environment variables that reproduce them."""
        return {
            "PYTHONHASHSEED": hash_seed(),
            ENV_FREEZE: "1" if self.freeze_time else "0",
            ENV_ALLOW_NET: "1" if self.allow_net else "0",
            ENV_BLOCK_LOOPBACK: "1" if self.block_loopback else "0",
        }


def hash_seed() -> str:
    """This interpreter's PYTHONHASHSEED as it was started (``random`` when unset: hashes differ run to run).

    A running interpreter's string hashing cannot be changed, so the plugin only reports it; the commands it
    writes and the runs it starts set ``PYTHONHASHSEED=0``.
    """
    value = os.environ.get("PYTHONHASHSEED", "")
    return value if value and value != "random" else "random"


def _flag(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise UsageError(f"{name}={value!r} is not a switch", hint=f"set {name} to 1 or 0")


def _seed(name: str, value: str) -> int:
    try:
        seed = int(value.strip())
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**32:
        raise UsageError(
            f"{name}={value!r} is not a seed", hint=f"set {name} to a whole number from 0 to 2**32-1"
        )
    return seed


def _freeze(value: str) -> tuple[bool, datetime]:
    """``FREEZE_TIME``: a switch, or the ISO 8601 instant to freeze at (a naive one is taken as UTC)."""
    v = value.strip()
    if v.lower() in _TRUE | _FALSE:
        return _flag(ENV_FREEZE, v), DEFAULT_FROZEN_AT
    try:
        at = datetime.fromisoformat(v)
    except ValueError as exc:
        raise UsageError(
            f"{ENV_FREEZE}={value!r} is neither a switch nor an instant",
            hint=f"set {ENV_FREEZE} to 1, 0 or an ISO 8601 time such as 2024-01-01T00:00:00Z",
        ) from exc
    return True, at if at.tzinfo else at.replace(tzinfo=UTC)


def load_settings(options: Mapping[str, object], env: Mapping[str, str], rootdir: Path) -> Settings:
    """Settings from the command-line ``options`` (None when not given), the environment and pytest's rootdir.

    Raises :class:`~godel.errors.UsageError` for a value that does not parse.
    """

    def pick(option: str, var: str) -> str | None:
        given = options.get(option)
        if given is not None and given is not False:
            return "1" if given is True else str(given)
        return env.get(var)

    seed_text = pick("seed", ENV_SEED)
    freeze_text = pick("freeze_time", ENV_FREEZE)
    net_text = pick("allow_net", ENV_ALLOW_NET)
    loopback_text = pick("block_loopback", ENV_BLOCK_LOOPBACK)
    events_text = pick("events", ENV_EVENTS)
    suite_text = pick("suite", ENV_SUITE)
    freeze, frozen_at = _freeze(freeze_text) if freeze_text is not None else (False, DEFAULT_FROZEN_AT)
    events = Path(events_text or DEFAULT_EVENTS).expanduser()
    return Settings(
        seed=_seed(ENV_SEED, seed_text) if seed_text is not None else DEFAULT_SEED,
        freeze_time=freeze,
        frozen_at=frozen_at,
        allow_net=_flag(ENV_ALLOW_NET, net_text) if net_text is not None else False,
        block_loopback=_flag(ENV_BLOCK_LOOPBACK, loopback_text) if loopback_text is not None else False,
        events_path=events if events.is_absolute() else rootdir / events,
        suite=suite_text or rootdir.name,
    )
