"""A response cache on disk (SQLite), keyed by a hash of everything that determines a reply.

Replies are cached only when they are reproducible in principle: a seed was given or the temperature is 0. A
resumed or repeated run with the same seeds then replays the same replies without calling the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from godel.errors import LLMError
from godel.llm._base import Completion, CompletionRequest

__all__ = ["ResponseCache", "cache_key", "default_cache_dir"]


def default_cache_dir() -> Path:
    env = os.environ.get("GODEL_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "llm"
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "godel" / "llm"


def cache_key(identity: Sequence[str], request: CompletionRequest) -> str:
    """A hash of the model's ``identity`` and every field of ``request``."""
    doc: dict[str, Any] = {
        "model": list(identity),
        "messages": [[m.role, m.content] for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": round(request.temperature, 6),
        "seed": request.seed,
        "grammar": request.grammar,
        "stop": list(request.stop),
    }
    if request.schema is not None:  # only when used, so keys of earlier caches stay valid
        doc["schema"] = dict(request.schema)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class ResponseCache:
    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory).expanduser() / "responses.sqlite"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, model TEXT, text TEXT, "
                "tokens_in INTEGER, tokens_out INTEGER, finish_reason TEXT, created REAL DEFAULT (julianday('now')))"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise LLMError(
                f"cannot open the LLM response cache {self.path}: {exc}",
                hint="set llm.cache_dir to a writable folder, or llm.cache = false",
            ) from exc
        self._lock = threading.Lock()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT model, text, tokens_in, tokens_out, finish_reason FROM replies WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return Completion(
            text=row[1], model=row[0], tokens_in=row[2], tokens_out=row[3], finish_reason=row[4], cached=True
        )

    def put(self, key: str, completion: Completion) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, model, text, tokens_in, tokens_out, finish_reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    completion.model,
                    completion.text,
                    completion.tokens_in,
                    completion.tokens_out,
                    completion.finish_reason,
                ),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
