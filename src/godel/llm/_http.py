"""One mapping from an HTTP endpoint's failures to :class:`EndpointError`, shared by the remote backends.

What differs between APIs (where the key comes from, what to check on a 404 or a malformed reply, which statuses
besides 5xx are worth retrying) is a field of :class:`HttpEndpoint`, not a copy of the mapping.

A connection that was never made (refused, no route, unknown host, TLS failure) reads "cannot reach"; a server that
accepted the request and closed the connection without replying reads "closed the connection": the first means the
server is not there, the second that it is there and failed.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

from godel.llm._errors import EndpointError

__all__ = ["HttpEndpoint", "retry_after_seconds"]


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The ``Retry-After`` header in seconds (the delta form; a date is ignored)."""
    if headers is None:
        return None
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _os_cause(exc: BaseException) -> OSError | None:
    """The first operating-system error behind ``exc`` (SDKs wrap the socket's error in their own)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and not isinstance(cur, TimeoutError):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def _deepest(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    cur = exc
    while id(cur) not in seen:
        seen.add(id(cur))
        nxt = cur.__cause__ or cur.__context__
        if nxt is None:
            break
        cur = nxt
    return cur


@dataclass(frozen=True)
class HttpEndpoint:
    """A remote model as its failures name it."""

    name: str  # the model's label
    url: str
    model: str
    timeout: float
    key_source: str  # "the key in $OPENAI_API_KEY", "no key (api_key_env is unset)"
    key_hint: str
    not_found_hint: str
    reply_hint: str  # what to check when a reply is not the API's
    unreachable_hint: str = "start the server or fix base_url"
    refused_hint: str = "the request was refused; check max_tokens and the model's context size"
    retry_statuses: frozenset[int] = frozenset({429})  # retried besides every 5xx

    def status_error(self, status: int, body: str, headers: Mapping[str, str] | None) -> EndpointError:
        body = _short(body)
        if status in (401, 403):
            return EndpointError(
                f"{self.name}: {self.url} rejected {self.key_source} (HTTP {status}): {body}",
                hint=self.key_hint,
                model=self.name,
                permanent=True,
                status=status,
            )
        if status == 404:
            return EndpointError(
                f"{self.name}: model {self.model!r} not found at {self.url} (HTTP 404): {body}",
                hint=self.not_found_hint,
                model=self.name,
                permanent=True,
                status=status,
            )
        if status in self.retry_statuses or status >= 500:
            return EndpointError(
                f"{self.name}: HTTP {status} from {self.url}: {body}",
                model=self.name,
                retryable=True,
                status=status,
                retry_after=retry_after_seconds(headers),
            )
        return EndpointError(
            f"{self.name}: HTTP {status} from {self.url} (model {self.model!r}): {body}",
            hint=self.refused_hint,
            model=self.name,
            status=status,
        )

    def timeout_error(self) -> EndpointError:
        return EndpointError(
            f"{self.name}: request timed out after {self.timeout:g} s at {self.url} (model {self.model!r})",
            hint="raise timeout_seconds, or check the server is not overloaded",
            model=self.name,
            retryable=True,
            kind="timeout",
        )

    def transport_error(self, exc: BaseException, seconds: float) -> EndpointError:
        """A request that got no HTTP reply within the timeout: never connected, or cut off after connecting."""
        cause = _os_cause(exc)
        if cause is not None and not isinstance(cause, ConnectionResetError | BrokenPipeError):
            what = f"cannot resolve the host ({cause})" if isinstance(cause, socket.gaierror) else str(cause)
            return EndpointError(
                f"{self.name}: cannot reach {self.url}: {what}",
                hint=self.unreachable_hint,
                model=self.name,
                kind="unreachable",
            )
        detail = _deepest(exc)
        return EndpointError(
            f"{self.name}: {self.url} accepted the request and closed the connection without a reply after "
            f"{seconds:.2f} s ({type(detail).__name__}: {_short(str(detail))})",
            hint="the server is running but failed on this request: check its log (a crash, an out-of-memory "
            "kill or a proxy cutting long requests)",
            model=self.name,
            kind="disconnected",
        )

    def reply_error(self, detail: str) -> EndpointError:
        return EndpointError(
            f"{self.name}: malformed reply from {self.url}: {_short(detail)}",
            hint=self.reply_hint,
            model=self.name,
        )
