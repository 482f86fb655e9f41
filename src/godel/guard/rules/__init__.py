"""The machine-checked rules a constitution can name: each a function from a proposal's facts to findings.

A check looks at the child's parsed files (:class:`godel.guard._source.Source`) and, for the comparative ones
(deleted tests, removed markers), at the parent's. The guard runs every check on the parent as well and keeps only
the findings the child adds, so a construct the seed already had does not block every descendant.

One module per family of checks; the shared types are in ``_base`` and the registry, :data:`CHECKS`, is here:

* ``_names``: forbidden imports and calls (modules, functions, attributes, methods);
* ``_dynamic``: obfuscation and dynamic code (exec/eval of built or decoded strings, computed imports);
* ``_files``: file access outside the program, reading the evaluator's data, writing score files, any write;
* ``_evaluation``: the evaluator and protected files, test tampering, removed canary or logging markers;
* ``_patching``: monkeypatching modules and builtins, always-equal objects;
* ``_constants``: constants copied from the evaluator's data, special-cased answers, large literal tables;
* ``_diff``: the size of the diff;
* ``_judge``: a principle in plain language, judged by the run's model pool (``model_judge``; the gate asks the
  model after the static checks passed).
"""

from godel.guard.rules._base import Check, CheckFn, Context, Finding, Params, Protected
from godel.guard.rules._constants import (
    distinctive_constants,
    hardcoded_outputs,
    literal_tables,
    norm_number,
)
from godel.guard.rules._diff import diff_size
from godel.guard.rules._dynamic import dynamic_code
from godel.guard.rules._evaluation import evaluator_access, marker_removal, test_tampering
from godel.guard.rules._files import file_access, file_write
from godel.guard.rules._judge import (
    Judgement,
    JudgeParams,
    JudgeVerdict,
    ask,
    model_judge,
    parse_verdict,
)
from godel.guard.rules._names import forbidden_calls, forbidden_imports
from godel.guard.rules._patching import monkeypatch

__all__ = [
    "CHECKS",
    "Check",
    "CheckFn",
    "Context",
    "Finding",
    "JudgeParams",
    "JudgeVerdict",
    "Judgement",
    "Params",
    "Protected",
    "ask",
    "distinctive_constants",
    "norm_number",
    "parse_verdict",
]

# The registry, by check name. The order is the one the checks have always been listed in.
CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        forbidden_imports,
        forbidden_calls,
        dynamic_code,
        file_access,
        file_write,
        evaluator_access,
        monkeypatch,
        test_tampering,
        marker_removal,
        hardcoded_outputs,
        literal_tables,
        diff_size,
        model_judge,
    )
}
