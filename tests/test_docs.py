"""Documentation that is generated from code stays current."""

from __future__ import annotations

from godel.config import reference_markdown
from tests.helpers import ROOT


def test_config_reference_is_current() -> None:
    text = (ROOT / "docs" / "config.md").read_text()
    begin, end = "<!-- BEGIN GENERATED -->\n", "<!-- END GENERATED -->"
    generated = text[text.index(begin) + len(begin) : text.index(end)]
    assert generated == reference_markdown(), (
        "docs/config.md is out of date: regenerate the table with godel.config.reference_markdown()"
    )


def test_readme_opens_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    fence = lines.index("```bash")
    commands = [line.split("#")[0].strip() for line in lines[fence + 1 : fence + 3]]
    assert commands == ["./dev godel evolve examples/function_minimization", "./dev test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in ci
