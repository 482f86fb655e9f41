"""Model failures: one endpoint's, classified so the pool knows whether to retry, fail over or give up; and the
pool's own, which carry the notes (retries, skips, failovers) made before it gave up."""

from __future__ import annotations

from collections.abc import Iterable

from godel.errors import BudgetExhausted, LLMError

__all__ = ["EndpointError", "PoolBudgetExhausted", "PoolError"]


class EndpointError(LLMError):
    """A model call failed.

    ``retryable``: worth retrying the same endpoint (HTTP 429, 5xx, timeouts). ``permanent``: a configuration
    problem (missing or rejected key, unknown model, missing package) that no retry or cool-down will fix, so the
    model is taken out of rotation for the rest of the process. ``kind`` is a short tag for accounting:
    ``http-429``, ``timeout``, ``unreachable`` (nothing answered the connection), ``disconnected`` (the server
    accepted the request and closed the connection without a reply), ``config``, ``reply`` (a malformed reply).
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        model: str = "",
        retryable: bool = False,
        permanent: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.model = model
        self.retryable = retryable
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after
        if kind is None:
            kind = f"http-{status}" if status is not None else ("config" if permanent else "reply")
        self.kind = kind


class PoolError(LLMError):
    """No model of a pool could answer. ``notes`` are the retries, skips and failovers made on the way."""

    def __init__(self, message: str, *, hint: str | None = None, notes: Iterable[str] = ()) -> None:
        super().__init__(message, hint=hint)
        self.notes = tuple(notes)


class PoolBudgetExhausted(BudgetExhausted):
    """A pool's cost or token cap leaves room for no call. ``notes`` are the skips made on the way."""

    def __init__(self, message: str, *, hint: str | None = None, notes: Iterable[str] = ()) -> None:
        super().__init__(message, hint=hint)
        self.notes = tuple(notes)
