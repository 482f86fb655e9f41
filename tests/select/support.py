"""Helpers of the strategy-specific selector tests; the shared ones come from the conformance suite."""

from __future__ import annotations

from godel.config import SelectorConfig
from godel.select import Pool, make_selector
from godel.select.testing import assert_matches, counts, feed
from godel.select.testing import make_row as row

__all__ = ["assert_matches", "counts", "feed", "row", "selector"]


def selector(name: str, **options: object) -> Pool:
    cfg = SelectorConfig.model_validate({"name": name, **options})
    sel = make_selector(cfg)
    assert isinstance(sel, Pool)
    return sel
