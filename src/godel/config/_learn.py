"""``[learn]``: what a run learns from its own results while it runs (the outcome predictor)."""

from __future__ import annotations

from pydantic import Field

from godel.config._model import Strict

__all__ = ["LearnConfig"]


class LearnConfig(Strict):
    """``[learn]``: the outcome predictor, off unless asked for (docs/learn.md has its figures)."""

    predictor: bool = Field(
        False, description="skip proposals the outcome predictor expects not to improve on their parent"
    )
    skip_below: float = Field(
        0.05, ge=0, le=1, description="skip when the predicted chance of beating the parent is below this"
    )
    explore: float = Field(
        0.1, ge=0, le=1, description="share of would-be-skipped proposals evaluated anyway (keeps it honest)"
    )
    min_observations: int = Field(30, ge=0, description="evaluated results needed before anything is skipped")
