"""Where a command's archive is: kept apart from :mod:`godel.parts` so the read commands find it without importing
the engine, the sandbox and the guard (re-exported there)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from godel.config import Config

__all__ = ["DEFAULT_STORAGE", "storage_url"]

DEFAULT_STORAGE = "sqlite:///godel.db"


def storage_url(explicit: str | None = None, config: Config | None = None) -> str:
    """``--storage``, else ``run.storage`` from the task, else ``$GODEL_STORAGE``, else ./godel.db."""
    if explicit:
        return explicit
    if config is not None and config.run.storage:
        return config.run.storage
    return os.environ.get("GODEL_STORAGE", DEFAULT_STORAGE)
