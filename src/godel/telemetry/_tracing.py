"""OpenTelemetry spans for the loop (propose, guard, evaluate, admit) and for LLM calls.

Only ``opentelemetry-api`` is required: without a configured SDK every span is a no-op costing well under a
microsecond. Configure an SDK (``opentelemetry-sdk`` + an exporter, or ``opentelemetry-instrument``) and the same
spans are exported. LLM spans follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*`` attributes, span
name ``"{operation} {model}"``, kind CLIENT).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from godel.redact import redact

__all__ = ["TRACER_NAME", "genai_attributes", "genai_usage", "llm_span", "span"]

TRACER_NAME = "godel"

_AttrValue = str | bool | int | float | Sequence[str] | Sequence[bool] | Sequence[int] | Sequence[float]


def _tracer() -> trace.Tracer:
    # Looked up per call (cheap: the API caches the proxy) so an SDK configured after import is still used.
    return trace.get_tracer(TRACER_NAME)


def _clean(attrs: Mapping[str, Any]) -> dict[str, _AttrValue]:
    """Attributes OpenTelemetry accepts: None dropped, primitives kept, sequences of primitives kept, rest as str."""
    out: dict[str, _AttrValue] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, str | bool | int | float):
            out[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[key] = [str(v) for v in value]
        elif isinstance(value, list | tuple) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            out[key] = [float(v) for v in value]
        else:
            out[key] = str(value)
    return out


@contextmanager
def span(name: str, /, **attrs: Any) -> Iterator[Span]:
    """A span named ``godel.<name>`` with ``attrs`` (``godel.`` prefixed unless the key has a dot).

    Usable as ``with span("evaluate", candidate=7):`` or as a decorator ``@span("propose")``. An exception leaving
    the block is recorded on the span and sets its status to ERROR, then propagates unchanged.
    """
    full = name if name.startswith("godel.") else f"godel.{name}"
    attributes = _clean({(k if "." in k else f"godel.{k}"): v for k, v in attrs.items()})
    with _tracer().start_as_current_span(
        full, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as s:
        try:
            yield s
        except BaseException as exc:
            _record_error(s, exc)
            raise


def genai_attributes(
    system: str,
    model: str,
    *,
    operation: str = "chat",
    temperature: float | None = None,
    max_tokens: int | None = None,
    top_p: float | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
) -> dict[str, _AttrValue]:
    """Request attributes of an LLM call per the GenAI semantic conventions.

    ``system`` is the provider (``openai``, ``anthropic``, ``llama_cpp``...); it is written both as
    ``gen_ai.system`` and as its newer name ``gen_ai.provider.name``.
    """
    return _clean(
        {
            "gen_ai.system": system,
            "gen_ai.provider.name": system,
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": model,
            "gen_ai.request.temperature": temperature,
            "gen_ai.request.max_tokens": max_tokens,
            "gen_ai.request.top_p": top_p,
            "server.address": server_address,
            "server.port": server_port,
        }
    )


def genai_usage(
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    response_model: str | None = None,
    finish_reasons: Sequence[str] | None = None,
    response_id: str | None = None,
) -> dict[str, _AttrValue]:
    """Response attributes of an LLM call per the GenAI semantic conventions."""
    return _clean(
        {
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.response.model": response_model,
            "gen_ai.response.finish_reasons": list(finish_reasons) if finish_reasons is not None else None,
            "gen_ai.response.id": response_id,
        }
    )


@contextmanager
def llm_span(system: str, model: str, *, operation: str = "chat", **request: Any) -> Iterator[Span]:
    """A CLIENT span ``"{operation} {model}"`` around one model request.

    Set the usage when the reply arrives: ``s.set_attributes(genai_usage(input_tokens=..., output_tokens=...))``.
    A failure sets ``error.type`` to the exception's class name (the convention's low-cardinality error label).
    """
    attributes = genai_attributes(system, model, operation=operation, **request)
    with _tracer().start_as_current_span(
        f"{operation} {model}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as s:
        try:
            yield s
        except BaseException as exc:
            s.set_attribute("error.type", type(exc).__name__)
            _record_error(s, exc)
            raise


def _record_error(s: Span, exc: BaseException) -> None:
    # The SDK's own record_exception would export the raw message (and traceback), which may hold a key.
    message = redact(str(exc))[:500]
    s.add_event("exception", {"exception.type": type(exc).__name__, "exception.message": message})
    s.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"[:200]))
