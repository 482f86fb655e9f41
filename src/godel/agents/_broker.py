"""Model access brokered by the host: an agent in the sandbox asks, the host answers.

The agent runs with no network and no secrets. It reaches a model only through ``godel_agent`` (a fixed module
godel puts beside it), and every reply comes from here, through the run's model pool: its budgets, cache, rate
limits and failover apply, outgoing text is redacted, and every call is recorded.

The channel is the job itself, step by step (deterministic replay): the host runs the agent's entry point with the
replies it has so far; when the agent asks for a reply the host does not have yet, the job hands the request over on
the result channel (fd 3) and ends. The host calls the model and runs the entry point again with one reply more,
until the entry point returns. Each step is a fresh sandbox job, so nothing of the agent outlives a step, the
sandbox needs no second channel, and a step's cost is the agent's own (cheap) code run again. An agent must
therefore be deterministic given its replies: it gets a seeded ``random``, and the host checks that every step
makes the same requests as the last (an agent that does not is failed, naming the first request that changed).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from godel.candidate import Program
from godel.errors import GodelError, LLMError
from godel.llm import CompletionRequest, Message, Pool, PoolBudgetExhausted
from godel.redact import redact
from godel.sandbox import Job, Limits, Sandbox

__all__ = ["AGENT_API", "AgentFailure", "Broker", "BrokerResult", "Call", "agent_api_source"]

AGENT_API = "godel_agent.py"
_AGENT_DIR = "agent"
_STATE = "__godel_broker__.json"

# Runs inside the sandbox, standard library only; godel's own copy of godel_agent sits beside it.
_RUNNER = r"""
import importlib.util, json, os, random, sys, traceback

def _emit(doc):
    data = json.dumps(doc).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(3, view):]

with open(STATE) as fh:
    state = json.load(fh)
os.remove(STATE)
sys.path.insert(0, os.getcwd())
import godel_agent
godel_agent._begin(state["replies"], state["limit"], _emit)
random.seed(state["seed"])
sys.path.insert(1, os.path.join(os.getcwd(), AGENT_DIR))
try:
    spec = importlib.util.spec_from_file_location("agent", os.path.join(AGENT_DIR, "agent.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent"] = module
    spec.loader.exec_module(module)
    value = getattr(module, state["entry"])(state["payload"])
    doc = {"done": value, "made": godel_agent._made(), "notes": godel_agent._notes()}
    try:
        _emit(doc)
    except (TypeError, ValueError) as exc:
        _emit({"error": "returned a value that is not plain data: %s" % exc, "made": godel_agent._made()})
except BaseException as exc:
    _emit({"error": "%s: %s" % (type(exc).__name__, exc), "traceback": traceback.format_exc()[-3000:],
           "made": godel_agent._made(), "notes": godel_agent._notes()})
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
""".replace("STATE", repr(_STATE)).replace("AGENT_DIR", repr(_AGENT_DIR))


def agent_api_source() -> str:
    """godel's ``godel_agent`` module, the one every agent job runs whatever the agent folder holds."""
    return (resources.files("godel") / "templates" / "agent" / AGENT_API).read_text()


class AgentFailure(GodelError):
    """The agent's own failure on one entry-point call (it raised, hung, broke the protocol): a fact about the
    candidate, recorded with it; never a failure of godel's machinery."""


@dataclass(frozen=True)
class Call:
    """One brokered model call, as recorded with the candidate."""

    digest: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: float
    seconds: float
    cached: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "model": self.model,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": round(self.cost, 8),
            "seconds": round(self.seconds, 4),
            "cached": self.cached,
        }


@dataclass(frozen=True)
class BrokerResult:
    """What one entry-point call came to: its value (when it returned) or its failure, and every model call."""

    value: Any
    error: str | None
    calls: tuple[Call, ...] = ()
    notes: tuple[Mapping[str, str], ...] = ()
    steps: int = 0
    seconds: float = 0.0
    budget_exhausted: bool = False  # the run's model budget (not the agent's call allowance) ran out

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def tokens(self) -> int:
        return sum(c.tokens_in + c.tokens_out for c in self.calls)

    @property
    def cost(self) -> float:
        return sum(c.cost for c in self.calls)


@dataclass
class Broker:
    """Runs an agent's entry points in ``sandbox`` and answers their model requests from ``pool``.

    ``max_tokens`` caps every reply (the agent may ask for less), ``limits`` bound each step's job.
    """

    sandbox: Sandbox
    pool: Pool
    limits: Limits = field(default_factory=Limits)
    max_tokens: int = 1024
    api_source: str = field(default_factory=agent_api_source)

    def run(
        self,
        agent: Program,
        entry: str,
        payload: Mapping[str, Any],
        *,
        calls: int,
        seed: int = 0,
        label: str = "",
    ) -> BrokerResult:
        """Call ``agent``'s ``entry(payload)`` with at most ``calls`` model calls."""
        started = time.monotonic()
        files: dict[str, bytes] = {f"{_AGENT_DIR}/{p}": t.encode() for p, t in agent.files.items()}
        # godel's own client, whatever copy the agent folder holds: the agent cannot change its channel.
        files[f"{_AGENT_DIR}/{AGENT_API}"] = self.api_source.encode()
        files[AGENT_API] = self.api_source.encode()
        replies: list[str] = []
        made: list[str] = []
        record: list[Call] = []
        steps = 0

        def result(value: Any, error: str | None, notes: Any = (), exhausted: bool = False) -> BrokerResult:
            kept = tuple(n for n in notes if isinstance(n, dict))[:200] if isinstance(notes, list) else ()
            return BrokerResult(
                value, error, tuple(record), kept, steps, time.monotonic() - started, exhausted
            )

        while True:
            steps += 1
            state = {
                "entry": entry,
                "payload": dict(payload),
                "replies": replies,
                "limit": calls,
                "seed": seed,
            }
            job_files = dict(files)
            job_files[_STATE] = json.dumps(state).encode()
            res = self.sandbox.run(
                Job(code=_RUNNER, files=job_files, limits=self.limits, label=f"{label} step {steps}")
            )
            doc = _document(res.result)
            if doc is None:
                why = res.reason or f"exit code {res.exit_code}"
                tail = (res.stderr or "").strip().splitlines()[-1:] or [""]
                return result(
                    None, f"{entry} ended without an answer ({res.termination}: {why}) {tail[0]}".strip()
                )
            if not res.ok and res.termination != "error":
                return result(None, f"{entry} ended by {res.termination}: {res.reason}", doc.get("notes"))
            seen = [str(d) for d in doc.get("made", [])] if isinstance(doc.get("made"), list) else []
            if seen[: len(made)] != made[: len(seen)]:
                first = next(i for i, (a, b) in enumerate(zip(seen, made, strict=False)) if a != b)
                return result(
                    None,
                    f"{entry} is not deterministic: its model request {first + 1} changed between two replays "
                    "(use the seeded random module; do not decide by the clock)",
                    doc.get("notes"),
                )
            if "error" in doc:
                return result(None, f"{entry} raised {str(doc['error'])[:500]}", doc.get("notes"))
            if "done" in doc:
                return result(doc["done"], None, doc.get("notes"))
            need = doc.get("need")
            if not isinstance(need, dict):
                return result(None, f"{entry} broke the broker protocol (neither an answer nor a request)")
            if len(replies) >= calls:
                return result(None, f"{entry} asked for more than its {calls} model calls", doc.get("notes"))
            try:
                # Seeded per call, so a seeded backend (the embedded model) answers a replayed run the same way.
                request = self._request(need, (seed * 1_000_003 + len(replies)) % (1 << 31))
            except LLMError as exc:
                return result(
                    None, f"{entry} made a malformed model request: {exc.message}", doc.get("notes")
                )
            digest = _digest(need)
            try:
                completion = self.pool.complete(request)
            except PoolBudgetExhausted as exc:
                return result(None, f"the run's model budget is spent: {exc.message}", doc.get("notes"), True)
            record.append(
                Call(
                    digest,
                    completion.model,
                    completion.tokens_in,
                    completion.tokens_out,
                    completion.cost,
                    completion.seconds,
                    completion.cached,
                )
            )
            replies.append(completion.text)
            made = [*seen, digest]

    def _request(self, need: Mapping[str, Any], seed: int) -> CompletionRequest:
        raw = need.get("messages")
        if not isinstance(raw, list) or not raw:
            raise LLMError("no messages")
        messages = []
        for m in raw:
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
                raise LLMError("each message needs a role of system, user or assistant")
            # Redacted on the way out: an agent's prompt may quote anything it read.
            messages.append(Message(m["role"], redact(str(m.get("content", "")))))
        asked = need.get("max_tokens")
        max_tokens = self.max_tokens if not isinstance(asked, int) else max(1, min(asked, self.max_tokens))
        temp = need.get("temperature")
        temperature = self.pool.temperature if not isinstance(temp, (int, float)) else float(temp)
        stop = need.get("stop") or ()
        return CompletionRequest(
            messages=tuple(messages),
            max_tokens=max_tokens,
            temperature=min(2.0, max(0.0, temperature)),
            seed=seed,
            stop=tuple(str(s) for s in stop)[:4] if isinstance(stop, list) else (),
        )


def _digest(request: Mapping[str, Any]) -> str:
    # The same digest godel_agent computes for the request, so replays can be compared.
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]


def _document(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None
