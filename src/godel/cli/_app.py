"""The Typer application every command module adds its commands to."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    name="godel",
    help="Self-improving code: an LLM or local mutator proposes edits, a sandbox runs them, an archive keeps them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain Click help: Rich's help renderer imports markdown-it, pygments and Rich's traceback (~0.15 s of CPU),
    # which `godel --help` cannot afford (issue 14: <= 0.3 s).
    rich_markup_mode=None,
)
