"""The broker: agents reach the model only through the host, deterministically, within their allowance, and
never see a secret."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from godel.agents import Broker, load_agent
from godel.candidate import Program
from godel.llm.testing import FakeChatServer
from godel.sandbox import Sandbox
from tests.agents.conftest import pool_for

API = load_agent().program.files["godel_agent.py"]


def agent(body: str) -> Program:
    return Program({"agent.py": "import godel_agent\n" + body, "godel_agent.py": API})


@pytest.fixture
def echo() -> Iterator[FakeChatServer]:
    with FakeChatServer(reply=lambda b: "reply to " + b["messages"][-1]["content"]) as srv:
        yield srv


def test_replies_come_back_in_order_and_every_call_is_recorded(box: Sandbox, echo: FakeChatServer) -> None:
    prog = agent(
        "def solve(task):\n"
        "    a = godel_agent.complete('one')\n"
        "    b = godel_agent.complete('two after ' + a)\n"
        "    godel_agent.log('done', a=a)\n"
        "    return [a, b, godel_agent.calls_left()]\n"
    )
    res = Broker(box, pool_for(echo.url)).run(prog, "solve", {}, calls=3)
    assert res.ok, res.error
    assert res.value == ["reply to one", "reply to two after reply to one", 1]
    assert len(res.calls) == 2 and res.steps == 3
    assert all(c.model.endswith("fake-model") and c.tokens_out > 0 for c in res.calls)
    assert res.notes == ({"event": "done", "a": "reply to one"},)
    assert len(echo.log) == 2  # each request reached the model once, however often the agent was replayed


def test_an_agent_past_its_allowance_is_told_and_can_answer_anyway(
    box: Sandbox, echo: FakeChatServer
) -> None:
    prog = agent(
        "def solve(task):\n"
        "    got = []\n"
        "    try:\n"
        "        while True:\n"
        "            got.append(godel_agent.complete('again'))\n"
        "    except godel_agent.BudgetExhausted:\n"
        "        return len(got)\n"
    )
    res = Broker(box, pool_for(echo.url)).run(prog, "solve", {}, calls=2)
    assert res.ok and res.value == 2 and len(echo.log) == 2


def test_an_agent_that_bypasses_the_client_cannot_exceed_its_allowance(
    box: Sandbox, echo: FakeChatServer
) -> None:
    # Forges a request on the result channel itself, ignoring godel_agent's count.
    prog = agent(
        "import json, os\n"
        "def solve(task):\n"
        "    godel_agent.complete('one')\n"
        "    doc = {'need': {'messages': [{'role': 'user', 'content': 'more'}]}, 'made': godel_agent._made()}\n"
        "    os.write(3, json.dumps(doc).encode())\n"
        "    os._exit(0)\n"
    )
    res = Broker(box, pool_for(echo.url)).run(prog, "solve", {}, calls=1)
    assert not res.ok and "more than its 1 model calls" in str(res.error)
    assert len(echo.log) == 1


def test_a_nondeterministic_agent_is_failed_naming_the_request(box: Sandbox, echo: FakeChatServer) -> None:
    prog = agent(
        "import time\n"
        "def solve(task):\n"
        "    a = godel_agent.complete('first %f' % time.time())\n"
        "    return godel_agent.complete('second')\n"
    )
    res = Broker(box, pool_for(echo.url)).run(prog, "solve", {}, calls=4)
    assert not res.ok and "not deterministic" in str(res.error) and "request 1" in str(res.error)


def test_seeded_random_makes_replays_agree(box: Sandbox, echo: FakeChatServer) -> None:
    prog = agent(
        "import random\n"
        "def solve(task):\n"
        "    return [godel_agent.complete(str(random.random())) for _ in range(2)]\n"
    )
    a = Broker(box, pool_for(echo.url)).run(prog, "solve", {}, calls=2, seed=7)
    b = Broker(box, pool_for(echo.url)).run(prog, "solve", {}, calls=2, seed=7)
    assert a.ok and a.value == b.value


def test_an_agent_that_raises_or_returns_junk_fails_with_the_reason(
    box: Sandbox, echo: FakeChatServer
) -> None:
    broker = Broker(box, pool_for(echo.url))
    raised = broker.run(agent("def solve(task):\n    raise ValueError('no idea')\n"), "solve", {}, calls=1)
    assert not raised.ok and "ValueError: no idea" in str(raised.error)
    junk = broker.run(agent("def solve(task):\n    return object()\n"), "solve", {}, calls=1)
    assert not junk.ok and "not plain data" in str(junk.error)
    missing = broker.run(agent("def other(task):\n    return 1\n"), "solve", {}, calls=1)
    assert not missing.ok and "AttributeError" in str(missing.error)


def test_the_agent_runs_godels_client_not_its_own_copy(box: Sandbox, echo: FakeChatServer) -> None:
    forged = "def complete(*a, **k):\n    return 'forged'\ndef calls_left():\n    return 99\n"
    prog = Program({"agent.py": "import godel_agent\ndef solve(t):\n    return godel_agent.complete('x')\n",
                    "godel_agent.py": forged})  # fmt: skip
    res = Broker(box, pool_for(echo.url)).run(prog, "solve", {}, calls=1)
    assert res.ok and res.value == "reply to x"


def test_no_api_key_ever_enters_the_sandbox(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-godel-test-" + os.urandom(8).hex()
    monkeypatch.setenv("GODEL_TEST_MODEL_KEY", secret)
    with FakeChatServer(api_key=secret, reply=lambda b: b["messages"][-1]["content"]) as srv:
        pool = pool_for(srv.url, api_key_env="GODEL_TEST_MODEL_KEY")
        # The agent looks everywhere it can for the key and sends what it found to the model.
        prog = agent(
            "import os\n"
            "def solve(task):\n"
            "    seen = [repr(dict(os.environ))]\n"
            "    for p in ('/proc/self/environ', '/proc/1/environ', '/proc/%d/environ' % os.getppid()):\n"
            "        try:\n"
            "            seen.append(open(p, 'rb').read().decode(errors='replace'))\n"
            "        except OSError as exc:\n"
            "            seen.append(str(exc))\n"
            "    echoed = godel_agent.complete('\\n'.join(seen))\n"
            "    return '\\n'.join(seen) + echoed\n"
        )
        res = Broker(box, pool).run(prog, "solve", {}, calls=1)
        assert res.ok, res.error
        assert secret not in res.value  # the call went through the host, which held the key
        assert len(srv.log) == 1 and srv.log[0].status == 200
