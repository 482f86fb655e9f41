"""Prompts sized for small context windows.

A prompt holds the current program (the whole file when it fits, else only its evolvable regions), the parent's
score, metrics and error artifacts, feedback from recent failed proposals, one or two inspirations and the edit
instructions, earlier improving edits of similar code when ``proposer.strategies`` asks for them, trimmed to
``proposer.prompt_tokens``: remembered edits go first, then inspirations, then feedback, then artifacts, and the
code is cut last (its middle, marked as omitted).

Templates are :class:`string.Template` files (``$field``); the defaults live in ``godel/propose/templates``, and
``proposer.system_prompt`` / ``proposer.user_prompt`` point at replacements relative to the task folder.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from godel.candidate import Candidate, Program
from godel.config import ProposerConfig
from godel.errors import ConfigError
from godel.llm import Message, estimate_tokens
from godel.propose._base import ProposalContext
from godel.redact import redact
from godel.task import EVOLVE_END, EVOLVE_START, Task

__all__ = [
    "DIFF_INSTRUCTIONS",
    "EDIT_SCHEMA",
    "FIELDS",
    "FULL_INSTRUCTIONS",
    "JSON_INSTRUCTIONS",
    "PromptBuilder",
]

FIELDS = ("task", "path", "code", "score", "metrics", "feedback", "inspirations", "instructions")

DIFF_INSTRUCTIONS = f"""Change only the code between # {EVOLVE_START} and # {EVOLVE_END}. Reply with one or more \
SEARCH/REPLACE blocks; SEARCH must copy lines of the current program exactly:
<<<<<<< SEARCH
<lines of the current program>
=======
<new lines>
>>>>>>> REPLACE"""

JSON_INSTRUCTIONS = f"""Change only the code between # {EVOLVE_START} and # {EVOLVE_END}. Reply with a JSON object {{"edits": [{{"search": "...", "replace": "..."}}]}}: each "search" copies lines of the current program exactly, "replace" holds the new lines."""

# JSON schema of a structured edit (structured outputs on remote endpoints).
EDIT_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "edits": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"search": {"type": "string"}, "replace": {"type": "string"}},
                "required": ["search", "replace"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["edits"],
    "additionalProperties": False,
}

FULL_INSTRUCTIONS = f"""Reply with the complete new code of the evolvable part (between # {EVOLVE_START} and \
# {EVOLVE_END}, or the whole program) in one ```python block."""

_ARTIFACT_CHARS = 600


@dataclass(frozen=True)
class _Templates:
    system: string.Template
    user: string.Template


def _read(task: Task, rel: str | None, default: str, field: str) -> string.Template:
    if rel is None:
        text = resources.files("godel.propose").joinpath("templates", default).read_text()
    else:
        path = Path(rel) if Path(rel).is_absolute() else task.root / rel
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(
                f"proposer.{field} = {rel!r}: cannot read {path}: {exc}",
                hint="give a path relative to the task folder",
            ) from exc
    tpl = string.Template(text)
    if not tpl.is_valid():
        raise ConfigError(
            f"proposer.{field}: {rel or default} is not a valid template (a stray `$`? write `$$`)"
        )
    unknown = sorted(set(tpl.get_identifiers()) - set(FIELDS))
    if unknown:
        raise ConfigError(
            f"proposer.{field}: {rel or default} uses unknown field(s) {', '.join(unknown)}",
            hint="available: " + ", ".join(f"${f}" for f in FIELDS),
        )
    return tpl


def _metrics(c: Candidate) -> str:
    if c.status.value == "failed":
        return f"- this version FAILED: {c.reason or 'no reason recorded'}"
    if not c.metrics and c.score is None:
        return "- (not evaluated yet)"
    lines = [f"- score: {c.score:.6g}" if c.score is not None else "- score: none"]
    lines += [f"- {k}: {v:.6g}" for k, v in sorted(c.metrics.items())]
    return "\n".join(lines)


def _cut(text: str, tokens: int) -> str:
    """``text`` shortened to about ``tokens``, keeping its first and last lines."""
    if estimate_tokens(text) <= tokens:
        return text
    keep = max(80, tokens * 7 // 2)  # characters
    lines = text.splitlines()
    head: list[str] = []
    tail: list[str] = []
    used = 0
    i, j = 0, len(lines) - 1
    while i <= j:
        line = lines[i] if len(head) <= len(tail) else lines[j]
        if used + len(line) + 1 > keep:
            break
        used += len(line) + 1
        if len(head) <= len(tail):
            head.append(line)
            i += 1
        else:
            tail.append(line)
            j -= 1
    omitted = len(lines) - len(head) - len(tail)
    return "\n".join([*head, f"... ({omitted} lines omitted) ...", *reversed(tail)])


def _regions_only(task: Task, program: Program) -> str:
    out: list[str] = []
    for r in task.regions(program):
        lines = program.files[r.path].splitlines()
        out.append(f"# {r.path}, lines {r.start + 1}-{r.end}")
        out.extend(lines[r.start : r.end])
    return "\n".join(out)


def _program_text(task: Task, program: Program) -> tuple[str, str]:
    if len(program.files) == 1:
        path = program.main_path
        return path, program.files[path]
    parts = [f"# file: {p}\n{t}" for p, t in program.files.items() if p not in task.fixed]
    return task.program_path, "\n".join(parts)


class PromptBuilder:
    def __init__(self, config: ProposerConfig) -> None:
        self.config = config
        self._templates: dict[Path, _Templates] = {}

    def templates(self, task: Task) -> _Templates:
        cached = self._templates.get(task.root)
        if cached is None:
            cached = _Templates(
                system=_read(task, self.config.system_prompt, "system.txt", "system_prompt"),
                user=_read(task, self.config.user_prompt, "user.txt", "user_prompt"),
            )
            self._templates[task.root] = cached
        return cached

    def build(self, ctx: ProposalContext, instructions: str, *, budget: int | None = None) -> list[Message]:
        """System and user messages for ``ctx``, within ``budget`` tokens (default ``proposer.prompt_tokens``)."""
        tpl = self.templates(ctx.task)
        budget = budget or self.config.prompt_tokens
        parent = ctx.parent
        path, code = _program_text(ctx.task, parent.program)
        feedback_items = [f"- {f}" for f in ctx.feedback[-3:]]
        for key, value in sorted(parent.artifacts.items()):
            if value.strip():
                feedback_items.append(f"- {key}: {value.strip()[:_ARTIFACT_CHARS]}")
        inspirations = list(ctx.inspirations[: self.config.inspirations])
        strategies = list(ctx.strategies[: self.config.strategies])
        fields = {
            "task": ctx.task.name,
            "path": path,
            "code": code,
            "score": f"{parent.score:.6g}" if parent.score is not None else "none",
            "metrics": _metrics(parent),
            "feedback": "",
            "inspirations": "",
            "instructions": instructions,
        }
        system = tpl.system.substitute(fields)

        def render() -> str:
            fields["feedback"] = (
                "Problems to fix (from the evaluator and earlier attempts):\n"
                + "\n".join(feedback_items)
                + "\n"
                if feedback_items
                else ""
            )
            fields["inspirations"] = "".join(
                f"Another version (score {c.score:.6g}):\n```python\n{_regions_only(ctx.task, c.program)}\n```\n"
                if c.score is not None
                else f"Another version:\n```python\n{_regions_only(ctx.task, c.program)}\n```\n"
                for c in inspirations
            ) + "".join(
                f"An edit that improved similar code, {head}:\n```diff\n{diff}\n```\n"
                for head, _, diff in (st.partition("\n") for st in strategies)
            )
            return tpl.user.substitute(fields)

        def size() -> int:
            return estimate_tokens(system) + estimate_tokens(render())

        while size() > budget and strategies:
            strategies.pop()
        while size() > budget and inspirations:
            inspirations.pop()
        while size() > budget and len(feedback_items) > 1:
            feedback_items.pop(0)
        if size() > budget and feedback_items:
            feedback_items = [feedback_items[-1][:200]]
        if size() > budget:
            fields["code"] = _regions_only(ctx.task, parent.program)
        if size() > budget:
            over = size() - budget
            fields["code"] = _cut(fields["code"], max(64, estimate_tokens(fields["code"]) - over))
        # Secrets in code, artifacts or feedback never leave for a model endpoint.
        return [Message("system", redact(system)), Message("user", redact(render()))]
