"""Every proposer passes the proposer conformance suite (godel.propose.testing): local mutations, a mix, the LLM
proposer against a local fake chat server on 127.0.0.1 (good replies, bad replies, failing endpoints, a cost cap),
and the scripted proposer engine tests use; then what is specific to the scripted proposer."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from godel.candidate import Program, Proposal, Status
from godel.config import LLMConfig, ModelConfig, ProposerConfig
from godel.llm import make_llm
from godel.llm.testing import FakeChatServer
from godel.propose import LLMProposer, MixProposer, MutationProposer, Outcome, Proposer, SearchReplace
from godel.propose.testing import (
    CONTEXTS,
    Deterministic,
    Exhausts,
    Fail,
    Fallible,
    ProposerConformance,
    ProposerFactory,
    ScriptedProposer,
    context,
)

# -- stand-ins for a model ------------------------------------------------------------------------------------------

_VALUE = re.compile(r"^(?P<indent>[ \t]*)value = (?P<number>[0-9.]+)[ \t]*$", re.M)


def _messages_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def good_reply(body: dict[str, Any]) -> str:
    """A model that changes the first ``value = N`` line it sees, by an amount drawn from the request's seed."""
    m = _VALUE.search(_messages_text(body))
    if m is None:
        return "I see nothing worth changing here."
    seed = int(body.get("seed") or 0)
    new = float(m["number"]) + 1 + seed % 97
    return f"<<<<<<< SEARCH\n{m[0]}\n=======\n{m['indent']}value = {new}\n>>>>>>> REPLACE\n"


_BAD_REPLIES = (
    "",  # nothing at all
    "I would make it faster by using a better algorithm.",  # prose, no edit
    "<<<<<<< SEARCH\n    value = 123456.0\n=======\n    value = 1\n>>>>>>> REPLACE\n",  # SEARCH not in the program
    "<<<<<<< SEARCH\nSCALE = 2.5\n=======\nSCALE = 99\n>>>>>>> REPLACE\n",  # an edit of the frame
    "<<<<<<< SEARCH\n    value = 1.5\n=======\n    value = (1.5\n>>>>>>> REPLACE\n",  # a syntax error
    "<<<<<<< SEARCH\n    value = 1.5\n",  # a block cut off
    "```python\nthis is not python at all (\n```\n",  # a rewrite that does not parse
    "<<<<<<< SEARCH\n    value = 1.5\n=======\n    value = 1.5\n>>>>>>> REPLACE\n",  # changes nothing
    "\x00\x01 binary \udcff junk",
)


def bad_reply(body: dict[str, Any]) -> str:
    """A model whose reply, chosen by the request's seed, is one of the ways replies go wrong."""
    return _BAD_REPLIES[int(body.get("seed") or 0) % len(_BAD_REPLIES)]


def llm_proposer(url: str, **config: Any) -> LLMProposer:
    model = {
        "backend": "openai",
        "model": "fake-model",
        "base_url": url,
        "timeout_seconds": 2.0,
        "max_retries": 0,
    }
    model.update(config.pop("model", {}))
    llm = make_llm(LLMConfig(models=(ModelConfig(**model),), cache=False, retry_base_seconds=0.01, **config))
    return LLMProposer(llm, ProposerConfig(kind="llm"))


def scripted_reply(ctx: Any) -> SearchReplace | Fail:
    """The scripted proposer's stand-in for a model: the same edit as good_reply, or a failure on cue."""
    for text in ctx.parent.program.files.values():
        m = _VALUE.search(text)
        if m is not None:
            return SearchReplace(m[0], f"{m['indent']}value = {float(m['number']) * 2 + 1}")
    return Fail("the script has nothing to change here")


# -- the suite, for every proposer ----------------------------------------------------------------------------------


class TestMutate(Deterministic, Fallible, ProposerConformance):
    @pytest.fixture
    def make_proposer(self) -> ProposerFactory:
        return MutationProposer


class TestMutateMany(Deterministic, Fallible, ProposerConformance):
    @pytest.fixture
    def make_proposer(self) -> ProposerFactory:
        return lambda: MutationProposer(ProposerConfig(mutations_per_proposal=8))


class TestMix(Deterministic, Fallible, ProposerConformance):
    @pytest.fixture
    def make_proposer(self) -> ProposerFactory:
        return lambda: MixProposer(
            [(MutationProposer(), 0.6), (ScriptedProposer(respond=scripted_reply, name="llm"), 0.4)]
        )


class TestScripted(Deterministic, Fallible, ProposerConformance):
    @pytest.fixture
    def make_proposer(self) -> ProposerFactory:
        return lambda: ScriptedProposer(respond=scripted_reply)


class TestScriptedList(Deterministic, Fallible, Exhausts, ProposerConformance):
    budget: ClassVar[int] = 5

    @pytest.fixture
    def make_proposer(self) -> ProposerFactory:
        def make() -> Proposer:
            return ScriptedProposer(
                [
                    SearchReplace("    value = 1.5", "    value = 2.5"),
                    Fail("the model said no", {"infra": True}),
                    [SearchReplace("value = 0.5", "value = 0.25"), SearchReplace("+ 1", "+ 2")],
                    SearchReplace("SCALE = 2.5", "SCALE = 3"),  # the frame: never applies
                    Proposal(program=None, proposer="scripted", error="a whole Proposal, returned as is"),
                ],
                model="script:v1",
            )

        return make


@pytest.fixture(scope="class")
def good_server() -> Iterator[FakeChatServer]:
    with FakeChatServer(reply=good_reply) as srv:
        yield srv


@pytest.fixture(scope="class")
def bad_server() -> Iterator[FakeChatServer]:
    with FakeChatServer(reply=bad_reply) as srv:
        yield srv


@pytest.fixture(scope="class")
def flaky_server() -> Iterator[FakeChatServer]:
    failures = ("429", "500", "503", "empty", "garbage", "nochoices", "drop")
    with FakeChatServer(reply=good_reply, failure_rate=0.6, failures=failures, seed=5) as srv:
        yield srv


class TestLLM(Deterministic, Fallible, ProposerConformance):
    @pytest.fixture
    def make_proposer(self, good_server: FakeChatServer) -> ProposerFactory:
        return lambda: llm_proposer(good_server.url)


class TestLLMBadReplies(Deterministic, Fallible, ProposerConformance):
    @pytest.fixture
    def make_proposer(self, bad_server: FakeChatServer) -> ProposerFactory:
        return lambda: llm_proposer(bad_server.url)


class TestLLMFailingEndpoint(Fallible, ProposerConformance):
    @pytest.fixture
    def make_proposer(self, flaky_server: FakeChatServer) -> ProposerFactory:
        return lambda: llm_proposer(flaky_server.url)


class TestLLMCostCap(Fallible, Exhausts, ProposerConformance):
    # Each call may cost up to 512 output tokens at 1 per 1000, so a cap of 0.6 leaves room for a few calls only.
    budget: ClassVar[int] = 12

    @pytest.fixture
    def make_proposer(self, good_server: FakeChatServer) -> ProposerFactory:
        return lambda: llm_proposer(good_server.url, model={"cost_per_1k_out": 1.0}, max_cost=0.6)


class TestLLMTokenCap(Fallible, Exhausts, ProposerConformance):
    # Each call reserves its prompt plus 512 output tokens, so a cap of 2000 tokens leaves room for a few calls only.
    budget: ClassVar[int] = 12

    @pytest.fixture
    def make_proposer(self, good_server: FakeChatServer) -> ProposerFactory:
        return lambda: llm_proposer(good_server.url, max_tokens=2000)


class TestMixWithLLM(Deterministic, Fallible, ProposerConformance):
    @pytest.fixture
    def make_proposer(self, good_server: FakeChatServer) -> ProposerFactory:
        return lambda: MixProposer([(llm_proposer(good_server.url), 0.5), (MutationProposer(), 0.5)])


# -- the scripted proposer ------------------------------------------------------------------------------------------


def test_scripted_answers_in_order_then_runs_out() -> None:
    ctx = context("block")
    parent = ctx.parent.program
    child = parent.replace(parent.main_path, parent.files[parent.main_path].replace("0.25", "0.5"))
    sp = ScriptedProposer([child, Fail("no", {"infra": True}), SearchReplace("value = 1.5", "value = 9")])
    rng = random.Random(0)
    first, second, third = (sp.propose(ctx, rng) for _ in range(3))
    assert first.ok and first.program == child and first.proposer == "scripted" and "0.5" in first.edit
    assert second.program is None and second.error == "no" and second.meta == {"infra": True}
    assert third.ok and third.program is not None and "value = 9" in third.program.files[parent.main_path]
    assert "SEARCH" in third.edit and "value = 9" in third.edit
    assert sp.exhausted
    fourth = sp.propose(ctx, rng)
    assert fourth.program is None and fourth.meta["budget_exhausted"] is True
    assert fourth.error is not None and "no answer left" in fourth.error
    assert rng.getstate() == random.Random(0).getstate(), "the rng is not used"
    assert sp.contexts == [ctx] * 4 and sp.proposals == [first, second, third, fourth]


def test_scripted_edits_that_do_not_apply_fail_like_a_models() -> None:
    ctx = context("block")
    p = ScriptedProposer([SearchReplace("SCALE = 2.5", "SCALE = 3")]).propose(ctx, random.Random(0))
    assert p.program is None and p.error is not None and "EVOLVE-BLOCK" in p.error


def test_scripted_answers_first_then_responds() -> None:
    seen: list[int] = []

    def respond(ctx: Any) -> Fail:
        seen.append(ctx.iteration)
        return Fail(f"iteration {ctx.iteration}")

    sp = ScriptedProposer([Fail("scripted")], respond=respond, name="llm", model="m")
    rng = random.Random(0)
    errors = [sp.propose(context(name), rng).error for name in CONTEXTS[:3]]
    assert errors == ["scripted", "iteration 1", "iteration 1"] and seen == [1, 1]
    assert not sp.exhausted
    assert {p.proposer for p in sp.proposals} == {"llm"} and {p.model for p in sp.proposals} == {"m"}


def test_scripted_records_outcomes_even_inside_a_mix() -> None:
    sp = ScriptedProposer(respond=scripted_reply, name="llm")
    mix = MixProposer([(sp, 1.0), (MutationProposer(), 1.0)])
    rng = random.Random(3)
    proposals = [mix.propose(context("block"), rng) for _ in range(20)]
    for p in proposals:
        mix.report(Outcome(p.proposer, p.model, Status.OK if p.ok else Status.FAILED, 0.1, p.cost))
    mine = [p for p in proposals if p.proposer == "llm"]
    assert mine and len(mine) < len(proposals)
    assert sp.proposals == mine
    assert [o.status for o in sp.outcomes] == [Status.OK if p.ok else Status.FAILED for p in mine]


def test_scripted_whole_proposals_are_returned_as_they_are() -> None:
    whole = Proposal(program=Program.single("x.py", "x = 1\n"), proposer="other", tokens_in=5, cost=0.5)
    assert ScriptedProposer([whole]).propose(context("block"), random.Random(0)) is whole
