"""``PYTEST_SEED``: every test starts from the same random state, whatever ran before it.

``random`` is always seeded; numpy's global generator when numpy is installed (imported for it on the first
test if the suite has not imported it yet: a test that imports numpy inside its body still starts seeded);
torch's when the suite has imported torch (importing torch costs seconds, so the plugin never does it itself).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from typing import Any

__all__ = ["Seeder"]


class Seeder:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._numpy_installed = importlib.util.find_spec("numpy") is not None

    def _numpy(self) -> Any:
        np = sys.modules.get("numpy")
        if np is None and self._numpy_installed:
            import numpy as np
        return np

    def reseed(self) -> list[str]:
        """Seed every generator there is; returns the names of those seeded."""
        random.seed(self.seed)
        seeded = ["random"]
        np = self._numpy()
        if np is not None:
            np.random.seed(self.seed)
            seeded.append("numpy")
        torch = sys.modules.get("torch")
        if torch is not None and hasattr(torch, "manual_seed"):
            torch.manual_seed(self.seed)
            seeded.append("torch")
        return seeded
