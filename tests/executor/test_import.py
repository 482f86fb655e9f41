"""What importing the executor package pulls in, checked in a fresh interpreter (this one has imported everything)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import ROOT

_PROBE = """
import json, sys
import godel.executor
import godel.executor.testing
from godel.executor import LocalRayCluster, RayExecutor, make_executor
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_executor_package_leaves_ray_and_the_composition_root_out() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = json.loads(proc.stdout)
    assert "godel.executor._ray_pool" in modules  # the Ray executor's own module is there, Ray itself is not
    assert not [m for m in modules if m == "ray" or m.startswith("ray.")]
    # Ray workers build their proposer with the caller's factory, so this package never needs godel.parts.
    assert not [m for m in modules if m.startswith(("godel.parts", "godel.engine", "godel.cli"))]
