"""Size of the change: a diff too large to review is a finding of its own."""

from __future__ import annotations

from pydantic import Field

from godel.guard.rules._base import Context, Finding, Params, check

__all__ = ["DiffParams", "diff_size"]


class DiffParams(Params):
    max_lines: int = Field(400, ge=1)


@check("diff_size", DiffParams, "a diff larger than max_lines (added + removed)")
def diff_size(ctx: Context, p: DiffParams) -> list[Finding]:
    if ctx.diff_lines > p.max_lines:
        return [Finding("diff_size", f"diff of {ctx.diff_lines} lines exceeds {p.max_lines}", "", None)]
    return []
