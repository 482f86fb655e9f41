"""Self-improvement, Darwin Gödel Machine style: a coding agent that rewrites itself, scored on HumanEval.

The agent (a folder of Python; godel ships a seed in ``godel/templates/agent``) runs in the sandbox with no network
and no secrets; the :class:`Broker` answers its model requests through the run's pool. :class:`AgentBenchmark`
scores it on the development split in stages (its solutions run against the real tests by godel's scorer), and
:class:`SelfModifyProposer` lets the parent agent write its child. :func:`agent_parts` puts these into the one
candidate pipeline; see docs/self-improve.md.
"""

from godel.agents._bench import FITNESS, AgentBenchmark, ProblemResult, Report, problem_results, wilson
from godel.agents._broker import AGENT_API, AgentFailure, Broker, BrokerResult, Call, agent_api_source
from godel.agents._humaneval import (
    Problem,
    Score,
    Split,
    load_problems,
    make_split,
    score_solution,
    screen_solution,
)
from godel.agents._propose import ProgramAgentProposer, SelfModifyProposer
from godel.agents._run import (
    SEED_AGENT,
    agent_parts,
    benchmark_knowledge,
    evolve_parts,
    load_agent,
    run_split,
    seed_agent_dir,
)

__all__ = [
    "AGENT_API",
    "FITNESS",
    "SEED_AGENT",
    "AgentBenchmark",
    "AgentFailure",
    "Broker",
    "BrokerResult",
    "Call",
    "Problem",
    "ProblemResult",
    "ProgramAgentProposer",
    "Report",
    "Score",
    "SelfModifyProposer",
    "Split",
    "agent_api_source",
    "agent_parts",
    "benchmark_knowledge",
    "evolve_parts",
    "load_agent",
    "load_problems",
    "make_split",
    "problem_results",
    "run_split",
    "score_solution",
    "screen_solution",
    "seed_agent_dir",
    "wilson",
]
