"""The conformance suite every :class:`~godel.propose.Proposer` must pass, and :class:`ScriptedProposer`, an
in-memory proposer that answers from a script so engine tests can run without a model. (One module, over 500 lines:
the suite's contexts, cases and mixins are one contract and are read together.)

Subclass :class:`ProposerConformance` in a test module and provide the ``make_proposer`` fixture: a callable that
returns a fresh proposer each time it is called. The suite runs it on its own contexts (:data:`CONTEXTS`: one
EVOLVE-BLOCK with numbers in the frame, two blocks, a file without markers, a folder with a fixed file, a block
with nothing to mutate, a block that does not parse, non-ASCII text, feedback and inspirations). What a proposer
promises beyond the protocol is declared with mixins, never probed: :class:`Deterministic`, :class:`Fallible` and
:class:`Exhausts` (with its ``budget``)::

    import pytest
    from godel.propose import MutationProposer
    from godel.propose.testing import Deterministic, Fallible, ProposerConformance

    class TestMutate(Deterministic, Fallible, ProposerConformance):
        @pytest.fixture
        def make_proposer(self):
            return MutationProposer

The contract (:mod:`godel.propose._base`):

* ``propose`` returns a :class:`~godel.candidate.Proposal` and never raises for bad model output or a parent it
  cannot improve: a failed proposal has ``program=None`` and an ``error`` saying why; a successful one has a
  program and no error.
* The child is a legal edit of the parent (``task.check_edit``): the lines outside the EVOLVE-BLOCK regions and the
  task's fixed files are untouched, and the child differs from the parent. The parent is not modified.
* ``report(outcome)`` takes the outcome of any proposal the proposer made, whatever its status; ``exhausted`` is a
  bool, false for a fresh proposer, and once true it stays true and every further proposal is a failed one.

The module is a little over 500 lines because it holds three things that belong together: the scripted proposer,
the contexts, and the suite that runs every proposer (the scripted one included) on them.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godel.candidate import Candidate, Program, Proposal, Status, unified_diff
from godel.config import Config
from godel.errors import ApplyError
from godel.propose import Outcome, ProposalContext, Proposer, SearchReplace, apply_search_replace
from godel.task import EVOLVE_END, EVOLVE_START, Task

__all__ = [
    "CONTEXTS",
    "Answer",
    "Deterministic",
    "Exhausts",
    "Fail",
    "Fallible",
    "ProposerConformance",
    "ProposerFactory",
    "Responder",
    "ScriptedProposer",
    "context",
    "essence",
]

ProposerFactory = Callable[[], Proposer]


# -- the scripted proposer ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fail:
    """A scripted failure: the proposal comes back with ``program=None``, this ``error`` and this ``meta`` (for
    instance ``{"infra": True}`` to stand for an endpoint that failed)."""

    error: str
    meta: Mapping[str, Any] = field(default_factory=dict)


# What a script answers with: the child itself; one or more SEARCH/REPLACE edits applied to the parent (an edit that
# does not apply becomes a failed proposal with the applier's message, as a model's would); a failure; or a complete
# Proposal, returned as it is.
Answer = Program | SearchReplace | Sequence[SearchReplace] | Fail | Proposal
Responder = Callable[[ProposalContext], Answer]


def _render(edits: Sequence[SearchReplace]) -> str:
    blocks = []
    for e in edits:
        head = f"{e.path}\n" if e.path else ""
        blocks.append(f"{head}<<<<<<< SEARCH\n{e.search}\n=======\n{e.replace}\n>>>>>>> REPLACE\n")
    return "".join(blocks)


class ScriptedProposer(Proposer):
    """A proposer that answers from a script, in the spirit of httpx's ``MockTransport``.

    ``answers`` are used one per proposal, in order; after them ``respond`` (a function of the context) answers,
    if given. Without ``respond`` the proposer is :attr:`exhausted` once its answers are spent, and a proposal asked
    of it then fails the way an LLM past its cost cap does (``meta`` ``infra`` and ``budget_exhausted``). The ``rng``
    is not used. Everything it receives and returns is recorded, in order: :attr:`contexts`, :attr:`proposals` and
    the :attr:`outcomes` passed to :meth:`report`. Safe to call from several threads.
    """

    def __init__(
        self,
        answers: Iterable[Answer] = (),
        *,
        respond: Responder | None = None,
        name: str = "scripted",
        model: str | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self._answers: deque[Answer] = deque(answers)
        self._respond = respond
        self._lock = threading.Lock()
        self.contexts: list[ProposalContext] = []
        self.proposals: list[Proposal] = []
        self.outcomes: list[Outcome] = []

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return self._respond is None and not self._answers

    def report(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        with self._lock:
            self.contexts.append(ctx)
            n = len(self.contexts)
            answer: Answer | None = self._answers.popleft() if self._answers else None
        if answer is None and self._respond is not None:
            answer = self._respond(ctx)
        if answer is None:
            proposal = Proposal(
                program=None,
                proposer=self.name,
                error=f"the script has no answer left for proposal {n}",
                model=self.model,
                meta={"infra": True, "budget_exhausted": True},
            )
        else:
            proposal = self._proposal(ctx, answer)
        with self._lock:
            self.proposals.append(proposal)
        return proposal

    def _proposal(self, ctx: ProposalContext, answer: Answer) -> Proposal:
        parent = ctx.parent.program
        if isinstance(answer, Proposal):
            return answer
        if isinstance(answer, Fail):
            return Proposal(
                program=None, proposer=self.name, error=answer.error, model=self.model, meta=dict(answer.meta)
            )
        if isinstance(answer, Program):
            return Proposal(
                program=answer, proposer=self.name, edit=unified_diff(parent, answer), model=self.model
            )
        edits = [answer] if isinstance(answer, SearchReplace) else list(answer)
        text = _render(edits)
        try:
            child = apply_search_replace(ctx.task, parent, edits)
        except ApplyError as exc:
            return Proposal(program=None, proposer=self.name, error=str(exc), edit=text, model=self.model)
        return Proposal(program=child, proposer=self.name, edit=text, model=self.model)


# -- the contexts the suite proposes from ---------------------------------------------------------------------------

_BLOCK = f'''"""A program whose frame holds numbers and operators too: a proposer must leave them alone."""
import math

SCALE = 2.5
LIMIT = 10


# {EVOLVE_START}
def f(x):
    value = 1.5
    if x > 3:
        return x * value + 0.25
    return min(x, LIMIT) - 1
# {EVOLVE_END}


def run():
    return f(SCALE) + 7 * math.pi
'''

_TWO_BLOCKS = f"""# {EVOLVE_START}
def first(x):
    value = 3.0
    return x + value
# {EVOLVE_END}

OFFSET = 12 - 4.5


# {EVOLVE_START}
def second(x):
    for i in range(4):
        x = x * 0.5 + i
    return x > 1
# {EVOLVE_END}


def run():
    return second(first(OFFSET)) or OFFSET < 3
"""

_WHOLE_FILE = """def g(x):
    value = 0.5
    return x * value + 1
"""

_NOTHING_TO_MUTATE = f"""# {EVOLVE_START}
def f(x):
    return helper(x)
# {EVOLVE_END}


def helper(x):
    return x * 2 + 1
"""

_BROKEN = f"""LIMIT = 4

# {EVOLVE_START}
def f(x)
    value = 1.5
    return x * value +
# {EVOLVE_END}
"""

_UNICODE = f"""# {EVOLVE_START}
def label(x):
    name = "naïve – ü ✓"
    value = 2.75
    return len("ü✓") * 1.25 + x * value, name  # ≈ ¾
# {EVOLVE_END}

SUFFIX = "— ünchanged 1.0"
"""

_FOLDER = {
    "main.py": "from util import h\nfrom fixed import RATE\n\n\ndef run():\n    return h(3) * RATE + 2\n",
    "util.py": "def h(x):\n    value = 4.0\n    return x - value if x > 1 else x\n",
    "fixed.py": "RATE = 0.75\nLIMIT = 100\n",
}


def _file_task(text: str, path: str = "initial_program.py") -> Task:
    return Task(
        root=Path("/nonexistent-task"),
        name="conformance",
        config=Config(),
        program=Program.single(path, text),
        mode="file",
        program_path=path,
        evaluator_path="evaluator.py",
        stages=("evaluate",),
    )


def _folder_task(files: Mapping[str, str], fixed: Sequence[str]) -> Task:
    return Task(
        root=Path("/nonexistent-task"),
        name="conformance",
        config=Config(),
        program=Program(dict(files)),
        mode="folder",
        program_path="src",
        evaluator_path="evaluator.py",
        stages=("evaluate",),
        fixed=frozenset(fixed),
    )


def _ctx(task: Task, **kw: Any) -> ProposalContext:
    parent = Candidate(run_id=1, iteration=0, program=task.program, id=1, status=Status.OK, score=0.5)
    return ProposalContext(task=task, parent=parent, iteration=kw.pop("iteration", 1), **kw)


def _with_history() -> ProposalContext:
    task = _file_task(_BLOCK)
    better = task.program.replace(task.program.main_path, _BLOCK.replace("value = 1.5", "value = 1.75"))
    inspiration = Candidate(
        run_id=1, iteration=3, program=better, id=4, status=Status.OK, score=0.8, parent_id=1
    )
    return _ctx(
        task,
        iteration=7,
        inspirations=(inspiration,),
        feedback=(
            "the edit could not be applied: block 1: the SEARCH text 'value = 9' was not found",
            "evaluate: ZeroDivisionError: division by zero",
        ),
    )


_BUILDERS: dict[str, Callable[[], ProposalContext]] = {
    "block": lambda: _ctx(_file_task(_BLOCK)),
    "two-blocks": lambda: _ctx(_file_task(_TWO_BLOCKS)),
    "whole-file": lambda: _ctx(_file_task(_WHOLE_FILE)),
    "folder": lambda: _ctx(_folder_task(_FOLDER, ["fixed.py"])),
    "nothing-to-mutate": lambda: _ctx(_file_task(_NOTHING_TO_MUTATE)),
    "does-not-parse": lambda: _ctx(_file_task(_BROKEN)),
    "unicode": lambda: _ctx(_file_task(_UNICODE)),
    "history": _with_history,
}
CONTEXTS = tuple(_BUILDERS)


def context(name: str) -> ProposalContext:
    """A fresh copy of the suite's context ``name`` (one of :data:`CONTEXTS`)."""
    return _BUILDERS[name]()


# -- checks ---------------------------------------------------------------------------------------------------------


def essence(p: Proposal) -> tuple[Any, ...]:
    """Everything of a proposal but its wall-clock ``seconds``: what "the same proposal" means."""
    return (
        p.program,
        p.proposer,
        p.error,
        p.edit,
        p.model,
        p.prompt,
        p.tokens_in,
        p.tokens_out,
        p.cost,
        dict(p.meta),
    )


def _frame(text: str) -> list[str]:
    """The lines outside EVOLVE-BLOCKs, marker lines included, each block standing as one placeholder (a file
    without markers is one block)."""
    if EVOLVE_START not in text:
        return ["\0"]
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        if EVOLVE_START in line:
            out += [line, "\0"]
            inside = True
        elif EVOLVE_END in line:
            out.append(line)
            inside = False
        elif not inside:
            out.append(line)
    return out


def _assert_well_formed(p: Proposal, ctx: ProposalContext, before: Program) -> None:
    assert isinstance(p, Proposal), f"propose returned {type(p).__name__}, not a Proposal"
    assert isinstance(p.proposer, str) and p.proposer, "a proposal names the proposer that made it"
    assert ctx.parent.program == before and dict(ctx.parent.program.files) == dict(before.files), (
        "propose modified the parent"
    )
    assert p.tokens_in >= 0 and p.tokens_out >= 0 and p.cost >= 0 and p.seconds >= 0
    if p.program is None:
        assert isinstance(p.error, str) and p.error.strip(), "a failed proposal says why"
        assert not p.ok
        return
    assert p.error is None, f"a proposal with a program carries no error, got {p.error!r}"
    assert p.ok
    child, task = p.program, ctx.task
    assert child != before, "the child differs from its parent"
    assert task.check_edit(before, child) is None, task.check_edit(before, child)
    if task.mode == "folder":
        for path in task.fixed:
            assert child.files.get(path) == before.files.get(path), f"fixed file {path} changed"
    else:
        assert set(child.files) == set(before.files)
        for path, text in before.files.items():
            assert _frame(child.files[path]) == _frame(text), f"{path} changed outside its EVOLVE-BLOCKs"


def _outcomes(p: Proposal) -> list[Outcome]:
    """An outcome of every status for proposal ``p``, as the engine would report it."""
    return [
        Outcome(p.proposer, p.model, status, 0.25 if status == Status.OK else 0.0, p.cost)
        for status in (Status.OK, Status.FAILED, Status.REJECTED, Status.AWAITING_APPROVAL)
    ]


# The factories the fixtures return hold no state, so one serves every Hypothesis example; the same test method runs
# under many subclasses, which is what differing_executors would object to. Examples are few because a proposer can
# be costly to make and to ask (an LLM proposer builds an HTTP client and calls an endpoint).
_PROPERTY = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)
SEEDS = st.integers(0, 2**32 - 1)
NAMES = st.sampled_from(CONTEXTS)


class ProposerConformance:
    """Behaviour every proposer shares. Subclasses provide the ``make_proposer`` fixture."""

    @pytest.fixture
    def make_proposer(self) -> ProposerFactory:
        raise NotImplementedError("subclasses provide a make_proposer fixture")

    def test_is_a_proposer(self, make_proposer: ProposerFactory) -> None:
        p = make_proposer()
        assert isinstance(p, Proposer)
        assert isinstance(p.name, str) and p.name
        assert p.exhausted is False, "a fresh proposer can propose"

    @_PROPERTY
    @given(NAMES, SEEDS)
    def test_proposals_are_well_formed_and_legal(
        self, make_proposer: ProposerFactory, name: str, seed: int
    ) -> None:
        ctx = context(name)
        before = Program(dict(ctx.parent.program.files))
        p = make_proposer().propose(ctx, random.Random(seed))
        _assert_well_formed(p, ctx, before)

    def test_a_run_of_proposals_with_outcomes_reported(self, make_proposer: ProposerFactory) -> None:
        """Proposals one after another from one proposer and one rng, every outcome reported back, as in a run:
        each context twice."""
        proposer = make_proposer()
        rng = random.Random(20240611)
        was_exhausted = False
        for name in CONTEXTS * 2:
            ctx = context(name)
            before = Program(dict(ctx.parent.program.files))
            exhausted = proposer.exhausted
            assert isinstance(exhausted, bool)
            assert exhausted or not was_exhausted, "exhausted went back from true to false"
            was_exhausted = exhausted
            p = proposer.propose(ctx, rng)
            _assert_well_formed(p, ctx, before)
            if exhausted:
                assert p.program is None, "an exhausted proposer made a program"
            for outcome in _outcomes(p):
                proposer.report(outcome)


class Deterministic:
    """Mixin: the same context and the same rng state give the same proposal and leave the rng in the same state,
    from a fresh proposer and along a whole sequence of proposals with their outcomes reported."""

    @settings(_PROPERTY, max_examples=8)
    @given(NAMES, SEEDS)
    def test_same_context_and_seed_give_the_same_proposal(
        self, make_proposer: ProposerFactory, name: str, seed: int
    ) -> None:
        ra, rb = random.Random(seed), random.Random(seed)
        a = make_proposer().propose(context(name), ra)
        b = make_proposer().propose(context(name), rb)
        assert essence(a) == essence(b)
        assert ra.getstate() == rb.getstate()

    def test_the_same_sequence_gives_the_same_proposals(self, make_proposer: ProposerFactory) -> None:
        runs = []
        for _ in range(2):
            proposer, rng = make_proposer(), random.Random(1234)
            out = []
            for name in CONTEXTS:
                p = proposer.propose(context(name), rng)
                proposer.report(_outcomes(p)[0])
                out.append(essence(p))
            runs.append((out, rng.getstate()))
        assert runs[0] == runs[1]


class Fallible:
    """Mixin: the proposer fails on some of the suite's contexts (bad model output, nothing to change, a parent
    that does not parse); the suite checks that failures happen and come back as failed proposals."""

    def test_failures_are_failed_proposals(self, make_proposer: ProposerFactory) -> None:
        failed = []
        for seed in range(2):
            for name in CONTEXTS:
                ctx = context(name)
                before = Program(dict(ctx.parent.program.files))
                p = make_proposer().propose(ctx, random.Random(seed))
                _assert_well_formed(p, ctx, before)
                if p.program is None:
                    failed.append(p)
        assert failed, "no proposal failed on any context"
        assert all(p.error and not p.ok for p in failed)


class Exhausts:
    """Mixin: the proposer runs out (a model past its cost cap, a script spent) within ``budget`` proposals; from
    then on ``exhausted`` is true and every proposal is a failed one."""

    budget: ClassVar[int]

    def test_runs_out_within_its_budget(self, make_proposer: ProposerFactory) -> None:
        proposer = make_proposer()
        rng = random.Random(7)
        assert proposer.exhausted is False
        made = 0
        while not proposer.exhausted:
            assert made < self.budget, f"still not exhausted after {made} proposals (budget {self.budget})"
            p = proposer.propose(context(CONTEXTS[made % len(CONTEXTS)]), rng)
            proposer.report(_outcomes(p)[0])
            made += 1
        for name in CONTEXTS[:3]:
            ctx = context(name)
            before = Program(dict(ctx.parent.program.files))
            p = proposer.propose(ctx, rng)
            _assert_well_formed(p, ctx, before)
            assert p.program is None and proposer.exhausted
