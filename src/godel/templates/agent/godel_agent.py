"""The agent's only way to a language model: godel's host answers its requests (the "broker").

This file is provided by godel and fixed: a child agent that changes it is refused, and whatever copy the agent
folder holds, the sandbox runs godel's own. The agent runs with no network and no secrets; a call goes out as a
request, and the reply comes back from the host, which applies the run's models, budgets, redaction and cache and
records every call with the candidate.

How it works, for an agent that wants to understand itself: the host runs the agent's entry point over and over,
replaying the replies it has so far; when the agent asks for a reply the host does not have yet, this module hands
the request to the host and the run ends there. The host calls the model and runs the agent again, now with one
more reply. So the agent must be deterministic given its replies: it gets a seeded ``random`` and should not read
the clock to decide anything.

API:
    complete(prompt, *, system=None, max_tokens=None, temperature=None, stop=()) -> str
    chat(messages, *, max_tokens=None, temperature=None, stop=()) -> str
    calls_left() -> int
    log(event, **fields)    # notes recorded with the candidate (for the agent's own later diagnosis)
"""

import hashlib
import json
import os

__all__ = ["BudgetExhausted", "calls_left", "chat", "complete", "log"]

_state = {"replies": [], "made": [], "limit": 0, "emit": None, "notes": []}


class BudgetExhausted(Exception):
    """No model call is left for this task: answer with what you have."""


def _digest(request):
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]


def _begin(replies, limit, emit):
    _state["replies"] = list(replies)
    _state["made"] = []
    _state["limit"] = int(limit)
    _state["emit"] = emit
    _state["notes"] = []


def _made():
    return list(_state["made"])


def _notes():
    return list(_state["notes"])


def calls_left():
    return max(0, _state["limit"] - len(_state["made"]))


def chat(messages, *, max_tokens=None, temperature=None, stop=()):
    msgs = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
    request = {"messages": msgs, "max_tokens": max_tokens, "temperature": temperature, "stop": list(stop)}
    n = len(_state["made"])
    if n >= _state["limit"]:
        raise BudgetExhausted("no model call left (%d used)" % n)
    _state["made"].append(_digest(request))
    if n < len(_state["replies"]):
        return _state["replies"][n]
    _state["emit"]({"need": request, "made": _state["made"][:-1], "notes": _state["notes"]})
    # The host takes it from here: nothing of this run may continue past an unanswered request.
    os._exit(0)


def complete(prompt, *, system=None, max_tokens=None, temperature=None, stop=()):
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return chat(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)


def log(event, **fields):
    entry = {"event": str(event)}
    entry.update({str(k): str(v)[:500] for k, v in fields.items()})
    if len(_state["notes"]) < 200:
        _state["notes"].append(entry)
