"""godel's seed coding agent: solves a programming problem with a language model, and rewrites itself.

Everything that makes it good or bad at its job is in this file and may change: the prompts, how many samples it
draws and at which temperature, how it checks a sample against the examples in the docstring, how many rounds of
self-repair it takes, how it picks among samples, and how it improves itself. godel calls two entry points:

    solve(task) -> str             task = {"prompt": signature and docstring, "entry_point": function name};
                                   returns Python source defining that function
    improve(context) -> dict       context = {"score": pass rate, "failures": [{"prompt", "solution", "error"}],
                                   "notes": [...]}; returns {"diagnosis": str, "files": {path: new text}}

The model is reached only through ``godel_agent`` (see that file). Problems' real tests are run by godel, outside
the agent; the agent sees only the prompt.
"""

import ast
import random
import re
import signal
from pathlib import Path

import godel_agent

# -- strategy: the knobs self-improvement is most likely to turn ---------------------------------------------------
SAMPLES = 2  # solutions drawn per problem
TEMPERATURE = 0.3  # of the first sample; later ones are hotter
TEMPERATURE_STEP = 0.3
MAX_TOKENS = 320  # per reply
REPAIR_ROUNDS = 1  # rounds of "here is the failing example, fix it"
EXAMPLE_SECONDS = 1.0  # time for one visible example

SYSTEM = "You are an expert Python programmer. You write correct, simple code."

SOLVE_PROMPT = """Complete this Python function. Reply with the whole function, including its signature, in one
Python code block, and nothing else.

{prompt}
"""

REPAIR_PROMPT = """This Python function is wrong:

{code}

On {call} it gave {got}, but the docstring expects {want}. Reply with the corrected whole function in one Python
code block."""


# -- reading the model's reply -----------------------------------------------------------------------------------
def code_blocks(reply):
    """The fenced Python blocks of a reply, in order."""
    return re.findall(r"```(?:python|py)?\s*\n(.*?)```", reply, re.S)


def extract_code(reply, prompt, entry_point):
    """The function the reply defines: a fenced block if there is one, else the reply; a bare body is appended to
    the prompt."""
    blocks = code_blocks(reply)
    if not blocks and "```" in reply:
        blocks = [reply.split("```", 2)[1].split("\n", 1)[-1]]
    candidates = blocks or [reply]
    for text in candidates:
        if "def " + entry_point in text and _parses(text):
            return _with_imports(prompt, text)
    body = candidates[0]
    joined = prompt + body
    if _parses(joined):
        return joined
    return _with_imports(prompt, candidates[0])


def _parses(text):
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def _with_imports(prompt, code):
    lines = [ln for ln in prompt.splitlines() if ln.startswith(("import ", "from "))]
    return "\n".join(lines + [code]) if lines else code


# -- the docstring's examples --------------------------------------------------------------------------------------
def examples(prompt):
    """(call, expected) pairs from ``>>> call`` lines followed by their expected value."""
    out = []
    lines = prompt.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith(">>> ") and i + 1 < len(lines):
            want = lines[i + 1].strip()
            if want and not want.startswith(">>>"):
                out.append((s[4:], want))
    return out


class _Slow(Exception):
    pass


def _alarm(signum, frame):
    raise _Slow()


def check(code, entry_point, cases):
    """The first example the code gets wrong, as (call, got, want), or None when all pass."""
    namespace = {}
    try:
        exec(compile(code, "<solution>", "exec"), namespace)
    except Exception as exc:
        return ("defining " + entry_point, type(exc).__name__ + ": " + str(exc)[:200], "no error")
    if entry_point not in namespace:
        return ("defining " + entry_point, "no function named " + entry_point, "a function")
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for call, want in cases:
            try:
                signal.setitimer(signal.ITIMER_REAL, EXAMPLE_SECONDS)
                got = eval(call, namespace)
                signal.setitimer(signal.ITIMER_REAL, 0)
                expected = eval(want, {})
            except _Slow:
                return (call, "no answer within %.1f s" % EXAMPLE_SECONDS, want)
            except Exception as exc:
                signal.setitimer(signal.ITIMER_REAL, 0)
                return (call, type(exc).__name__ + ": " + str(exc)[:200], want)
            if got != expected:
                return (call, repr(got)[:200], want)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return None


# -- solving -------------------------------------------------------------------------------------------------------
def solve(task):
    prompt, entry = task["prompt"], task["entry_point"]
    cases = examples(prompt)
    best, best_failed = None, None
    for k in range(SAMPLES):
        if godel_agent.calls_left() == 0:
            break
        try:
            reply = godel_agent.complete(
                SOLVE_PROMPT.format(prompt=prompt.strip()),
                system=SYSTEM,
                max_tokens=MAX_TOKENS,
                temperature=TEMPERATURE + k * TEMPERATURE_STEP,
            )
        except godel_agent.BudgetExhausted:
            break
        code = extract_code(reply, prompt, entry)
        failed = check(code, entry, cases)
        for _ in range(REPAIR_ROUNDS):
            if failed is None or godel_agent.calls_left() == 0:
                break
            call, got, want = failed
            try:
                reply = godel_agent.complete(
                    REPAIR_PROMPT.format(code=code, call=call, got=got, want=want),
                    system=SYSTEM,
                    max_tokens=MAX_TOKENS,
                    temperature=TEMPERATURE,
                )
            except godel_agent.BudgetExhausted:
                break
            fixed = extract_code(reply, prompt, entry)
            fixed_failed = check(fixed, entry, cases)
            if fixed_failed is None or (failed[0].startswith("defining") and not fixed_failed[0].startswith("defining")):
                code, failed = fixed, fixed_failed
        godel_agent.log("sample", k=k, passed_examples=failed is None, failure=failed)  # godel:marker
        if failed is None:
            return code
        if best is None or (best_failed[0].startswith("defining") and not failed[0].startswith("defining")):
            best, best_failed = code, failed
    return best if best is not None else prompt + "    raise NotImplementedError\n"


# -- improving itself ----------------------------------------------------------------------------------------------
STRATEGY_START = "# -- strategy:"
STRATEGY_END = "# -- reading the model's reply"

IMPROVE_PROMPT = """A Python coding agent scored {score:.0%} on its benchmark. These settings decide how it works:

```python
{settings}
```

Problems it failed:
{failures}

First write one line starting with DIAGNOSIS: that says why it fails. Then write the improved settings in one
```python code block: the same names, new values or new prompt texts."""

_KNOBS = {
    "SAMPLES": (1, 5),
    "TEMPERATURE": (0.0, 1.0),
    "TEMPERATURE_STEP": (0.0, 0.6),
    "MAX_TOKENS": (128, 640),
    "REPAIR_ROUNDS": (0, 3),
}


def improve(context):
    # The agent being improved: this very agent's files, unless godel runs an ablation in which the seed agent
    # improves someone else.
    files = context.get("files") or {}
    source = files.get("agent.py") or (Path(__file__).parent / "agent.py").read_text()
    settings = _settings(source)
    shown = []
    for f in context.get("failures", [])[:3]:
        shown.append("- %s\n  its answer failed: %s" % (f["prompt"].strip()[:300], str(f["error"])[:160]))
    diagnosis = ""
    reply = ""
    if settings is not None:
        try:
            reply = godel_agent.complete(
                IMPROVE_PROMPT.format(
                    score=float(context.get("score") or 0.0),
                    settings=settings.strip(),
                    failures="\n".join(shown) or "(none recorded)",
                ),
                system=SYSTEM,
                max_tokens=600,
                temperature=0.7,
            )
        except godel_agent.BudgetExhausted:
            reply = ""
    m = re.search(r"DIAGNOSIS:\s*(.+)", reply)
    if m:
        diagnosis = m.group(1).strip()[:300]
    for block in code_blocks(reply):
        if _usable_agent(block) and block.strip() != source.strip():
            godel_agent.log("improve", how="model rewrite")  # godel:marker
            return {"diagnosis": diagnosis or "rewrote the agent", "files": {"agent.py": block}}
        new = _with_settings(source, settings, block) if settings is not None else None
        if new is not None and new != source:
            godel_agent.log("improve", how="model settings")  # godel:marker
            return {"diagnosis": diagnosis or "changed the settings", "files": {"agent.py": new}}
    # The model gave nothing usable: turn one of the strategy's knobs instead, so the child still differs in a way
    # the benchmark can judge.
    name, value = _turn_knob(source)
    godel_agent.log("improve", how="knob", knob=name, value=value)  # godel:marker
    new = re.sub(r"(?m)^%s = [^#\n]+" % name, "%s = %r  " % (name, value), source, count=1)
    why = diagnosis or "no usable change from the model; trying %s = %r" % (name, value)
    return {"diagnosis": why, "files": {"agent.py": new}}


def _settings(source):
    start, end = source.find(STRATEGY_START), source.find(STRATEGY_END)
    if start < 0 or end < start:
        return None
    return source[source.index("\n", start) + 1 : end]


def _assigned(text):
    """Name -> literal value of the plain assignments in ``text`` (None when it is not such a block)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    out = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            return None
        try:
            out[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            return None
    return out


def _with_settings(source, settings, block):
    """The source with its settings replaced by ``block``, when the block sets the same names to values of the same
    kinds (within the knobs' ranges, prompts keeping their placeholders); else None."""
    old, new = _assigned(settings), _assigned(block)
    if not old or not new or set(new) != set(old):
        return None
    for name, value in new.items():
        if type(value) is not type(old[name]) and not (isinstance(old[name], float) and isinstance(value, int)):
            return None
        if name in _KNOBS and not _KNOBS[name][0] <= value <= _KNOBS[name][1]:
            return None
        if isinstance(value, str) and set(re.findall(r"{(\w+)}", value)) != set(re.findall(r"{(\w+)}", old[name])):
            return None
    return source.replace(settings, block.rstrip() + "\n\n", 1)


def _usable_agent(text):
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    return {"solve", "improve"} <= names


def _turn_knob(source):
    name = random.choice(sorted(_KNOBS))
    low, high = _KNOBS[name]
    m = re.search(r"(?m)^%s = ([^#\n]+)" % name, source)
    current = ast.literal_eval(m.group(1).strip()) if m else low
    if isinstance(low, int):
        value = current + random.choice([-1, 1])
        value = min(high, max(low, value))
        if value == current:
            value = low if current == high else high
        return name, int(value)
    value = round(min(high, max(low, current + random.choice([-0.2, -0.1, 0.1, 0.2]))), 2)
    if value == current:
        value = round((low + high) / 2, 2)
    return name, value


# -- proposing edits to another program (godel evolve --agent DIR) -------------------------------------------------
EDIT_PROMPT = """Improve this Python program so that it scores higher; its score now is {score}.
{feedback}Change only the lines between the EVOLVE-BLOCK-START and EVOLVE-BLOCK-END comments, if it has them, and
reply with the complete new program in one Python code block.

{code}
"""


def edit(context):
    """A child of someone else's program: context = {"files", "path", "score", "feedback"}; returns
    {"diagnosis", "files": {path: new text}} (no files: no usable edit)."""
    path = context["path"]
    code = context["files"][path]
    notes = [str(f)[:300] for f in context.get("feedback", [])[:3]]
    feedback = "Earlier attempts failed: " + " | ".join(notes) + "\n" if notes else ""
    for k in range(SAMPLES):
        try:
            reply = godel_agent.complete(
                EDIT_PROMPT.format(score=context.get("score"), feedback=feedback, code=code),
                system=SYSTEM,
                max_tokens=max(MAX_TOKENS, 1024),
                temperature=TEMPERATURE + k * TEMPERATURE_STEP,
            )
        except godel_agent.BudgetExhausted:
            break
        for block in code_blocks(reply):
            if _parses(block) and block.strip() != code.strip():
                godel_agent.log("edit", sample=k)  # godel:marker
                return {"diagnosis": "sample %d" % k, "files": {path: block}}
    return {"diagnosis": "no usable edit from the model", "files": {}}
