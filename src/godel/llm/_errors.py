"""Endpoint failures, classified so the robustness layer knows whether to retry, fail over or give up."""

from __future__ import annotations

from godel.errors import LLMError

__all__ = ["EndpointError"]


class EndpointError(LLMError):
    """A model call failed.

    ``retryable``: worth retrying the same endpoint (HTTP 429, 5xx, timeouts). ``permanent``: a configuration
    problem (missing or rejected key, unknown model, missing package) that no retry or cool-down will fix, so the
    model is taken out of rotation for the rest of the process.
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
    ) -> None:
        super().__init__(message, hint=hint)
        self.model = model
        self.retryable = retryable
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after

    @property
    def kind(self) -> str:
        """A short tag for accounting: ``http-429``, ``timeout``, ``unreachable``, ``config``, ``reply``..."""
        if self.status is not None:
            return f"http-{self.status}"
        if self.permanent:
            return "config"
        if "timed out" in self.message:
            return "timeout"
        if "cannot reach" in self.message:
            return "unreachable"
        return "reply"
