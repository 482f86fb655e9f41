"""godel's pytest plugin: failure events, determinism and a network guard for any suite, with no edit to its tests.

Installed with godel through the ``pytest11`` entry point ``godel`` (``-p no:godel`` turns it off). Per test:

* every failure, and every error in setup or teardown or while collecting, is appended to
  ``reports/events.ndjson`` (``--godel-events`` / ``GODEL_EVENTS``) as one JSON line; ``godel tests events`` groups
  them by signature;
* ``random`` (and numpy, and torch when imported) is seeded with ``PYTEST_SEED`` (``--godel-seed``, default 1337);
* ``FREEZE_TIME=1`` freezes the wall clock (time-machine), ``@pytest.mark.clock`` opts a test out;
* connections off the machine are refused unless ``ALLOW_NET=1``; loopback stays open unless
  ``--godel-block-loopback`` / ``GODEL_BLOCK_LOOPBACK=1``; ``@pytest.mark.external`` opts a test in.

Importing this package costs the standard library modules it uses plus :mod:`godel.redact` and :mod:`godel.errors`
(no numpy, SQLAlchemy or engine): pytest loads it in every session of every project where godel is installed. The
candidate finder (``godel tests candidates``) lives here too and imports coverage.py only when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from godel.errors import NetworkBlocked, UsageError
from godel.pytest_plugin._candidates import (
    CandidateReport,
    ModuleCandidate,
    find_candidates,
    git_churn,
    is_test_file,
    module_files,
    run_coverage,
)
from godel.pytest_plugin._events import (
    EventGroup,
    EventLog,
    group_events,
    make_event,
    read_events,
    repro_command,
    signature,
)
from godel.pytest_plugin._network import Policy, connection_allowed, is_loopback_host
from godel.pytest_plugin._plugin import PLUGIN_NAME, SessionPlugin, add_options
from godel.pytest_plugin._settings import (
    DEFAULT_EVENTS,
    DEFAULT_SEED,
    ENV_ALLOW_NET,
    ENV_BLOCK_LOOPBACK,
    ENV_EVENTS,
    ENV_FREEZE,
    ENV_SEED,
    ENV_SUITE,
    Settings,
    load_settings,
)

if TYPE_CHECKING:
    import pytest

__all__ = [
    "DEFAULT_EVENTS",
    "DEFAULT_SEED",
    "ENV_ALLOW_NET",
    "ENV_BLOCK_LOOPBACK",
    "ENV_EVENTS",
    "ENV_FREEZE",
    "ENV_SEED",
    "ENV_SUITE",
    "PLUGIN_NAME",
    "CandidateReport",
    "EventGroup",
    "EventLog",
    "ModuleCandidate",
    "NetworkBlocked",
    "Policy",
    "SessionPlugin",
    "Settings",
    "connection_allowed",
    "find_candidates",
    "git_churn",
    "group_events",
    "is_loopback_host",
    "is_test_file",
    "load_settings",
    "make_event",
    "module_files",
    "read_events",
    "repro_command",
    "run_coverage",
    "signature",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    # The session's hooks live on an object registered for this config only: an in-process pytester run nests
    # a second config, and each must hear only its own reports.
    import pytest

    try:
        plugin = SessionPlugin.from_config(config)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.pluginmanager.register(plugin, PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(plugin, SessionPlugin):
        plugin.close()
        config.pluginmanager.unregister(plugin, PLUGIN_NAME)
