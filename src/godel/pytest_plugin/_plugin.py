"""The hooks of one pytest session: seeding, the clock, the network policy per test, and failure events."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# pytest's own marker (``pytest.hookimpl`` is this object), taken from pluggy so that importing the package for
# the CLI does not import pytest.
from pluggy import HookimplMarker

from godel.pytest_plugin._clock import Clock, real_time, require_time_machine
from godel.pytest_plugin._determinism import Seeder
from godel.pytest_plugin._events import EventWriter, make_event, split_error_line
from godel.pytest_plugin._network import Policy, install, set_policy, uninstall
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
    hash_seed,
    load_settings,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    import pytest

__all__ = ["PLUGIN_NAME", "SessionPlugin", "add_options"]

PLUGIN_NAME = "godel-session"
hookimpl = HookimplMarker("pytest")

_MARKERS = (
    "external: the test may use the network (godel's plugin refuses connections off the machine otherwise)",
    "clock: the test runs on the real clock even with FREEZE_TIME=1",
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("godel", "godel's plugin: failure events, determinism, network guard")
    add = group.addoption
    add(
        "--godel-events",
        dest="godel_events",
        metavar="PATH",
        default=None,
        help=f"file failure events are appended to (${ENV_EVENTS}; default {DEFAULT_EVENTS} under the rootdir)",
    )
    add(
        "--godel-seed",
        dest="godel_seed",
        metavar="N",
        default=None,
        help=f"seed random, numpy and torch with N before each test (${ENV_SEED}; default {DEFAULT_SEED})",
    )
    add(
        "--godel-suite",
        dest="godel_suite",
        metavar="NAME",
        default=None,
        help=f"the suite's name in events (${ENV_SUITE}; default the rootdir's name)",
    )
    add(
        "--godel-freeze-time",
        dest="godel_freeze_time",
        action="store_true",
        default=False,
        help=f"freeze the wall clock in each test (${ENV_FREEZE}=1; @pytest.mark.clock opts a test out)",
    )
    add(
        "--godel-allow-net",
        dest="godel_allow_net",
        action="store_true",
        default=False,
        help=f"let tests connect off the machine (${ENV_ALLOW_NET}=1)",
    )
    add("--godel-block-loopback", dest="godel_block_loopback", action="store_true", default=False,
        help=f"refuse connections to loopback too (${ENV_BLOCK_LOOPBACK}=1; @pytest.mark.external opts a test in)")  # fmt: skip


def _class_name(cls: type) -> str:
    module = getattr(cls, "__module__", "") or ""
    if module == "builtins" or module.startswith("_pytest"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def _exc_message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception as err:  # a __str__ that raises must not hide the failure it describes
        return f"<{type(exc).__name__}: str() raised {type(err).__name__}: {err}>"


class SessionPlugin:
    """Registered for one pytest config by the package's ``pytest_configure``."""

    def __init__(self, settings: Settings, *, worker: bool) -> None:
        self.settings = settings
        self.worker = worker  # an xdist worker: the controller records collection errors
        self.env = settings.env()
        self.writer = EventWriter(settings.events_path)
        self.seeder = Seeder(settings.seed)
        self.clock = Clock(settings.frozen_at)
        self.guarded = not settings.allow_net or settings.block_loopback
        self.failures_seen = 0
        self.write_errors: list[str] = []
        self._pending: dict[str, Any] | None = None
        if self.guarded:
            install()
            set_policy(self.policy(None))

    @classmethod
    def from_config(cls, config: pytest.Config) -> SessionPlugin:
        """Raises :class:`~godel.errors.UsageError` for a setting that does not parse."""
        for marker in _MARKERS:
            config.addinivalue_line("markers", marker)
        options = {
            name: config.getoption(f"godel_{name}")
            for name in ("events", "seed", "suite", "freeze_time", "allow_net", "block_loopback")
        }
        settings = load_settings(options, os.environ, config.rootpath)
        if settings.freeze_time:
            require_time_machine()
        return cls(settings, worker=hasattr(config, "workerinput"))

    def close(self) -> None:
        self.flush()
        self.clock.thaw()
        self.writer.close()
        if self.guarded:
            uninstall()

    def policy(self, item: pytest.Item | None) -> Policy:
        external = item is not None and item.get_closest_marker("external") is not None
        return Policy(
            external=self.settings.allow_net or external,
            loopback=not self.settings.block_loopback or external,
            where=item.nodeid if item is not None else "",
        )

    def record(
        self, *, test_id: str, file: str, error_class: str, message: str, stack: str, phase: str
    ) -> None:
        self.write(self.event(test_id=test_id, file=file, error_class=error_class, message=message,
                              stack=stack, phase=phase))  # fmt: skip

    def event(
        self, *, test_id: str, file: str, error_class: str, message: str, stack: str, phase: str
    ) -> dict[str, Any]:
        return make_event(
            ts=real_time(),
            suite=self.settings.suite,
            test_id=test_id,
            file=file,
            error_class=error_class,
            message=message,
            stack=stack,
            seed=self.settings.seed,
            env=self.env,
            phase=phase,
        )

    def write(self, event: dict[str, Any]) -> None:
        try:
            self.writer.write(event)
        except OSError as exc:
            # Not the test's failure: reported at the end of the run, and the test's own report stands.
            self.write_errors.append(f"{self.writer.path}: {exc.strerror or exc}")

    # -- hooks ---------------------------------------------------------------------------------------------------

    def pytest_report_header(self) -> list[str]:
        s = self.settings
        hs = hash_seed()
        if s.block_loopback:
            net = "blocked, loopback too"
        elif s.allow_net:
            net = "open"
        else:
            net = "blocked off the machine (loopback open)"
        clock = f"frozen at {s.frozen_at.isoformat()}" if s.freeze_time else "real"
        note = " (random: start Python with PYTHONHASHSEED=0 to fix it)" if hs == "random" else ""
        return [
            f"godel: seed {s.seed}, PYTHONHASHSEED={hs}{note}, clock {clock}, network {net}, events {s.events_path}"
        ]

    @hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        # Before setup, so fixtures start from the seed and see the frozen clock as the test does.
        self.seeder.reseed()
        if self.guarded:
            set_policy(self.policy(item))
        if self.settings.freeze_time and item.get_closest_marker("clock") is None:
            self.clock.freeze()
        try:
            return (yield)
        finally:
            self.flush()
            self.clock.thaw()
            if self.guarded:
                set_policy(self.policy(None))

    @hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        # Outermost, so the report is final (an xfail already turned into a skip) when it is looked at.
        report = yield
        if report.failed:
            text = report.longreprtext
            excinfo = call.excinfo
            if excinfo is not None:
                error_class, message = _class_name(excinfo.type), _exc_message(excinfo.value)
            else:  # a strict xpass: a failure without an exception
                error_class, message = "XPASS(strict)", text
            # Written when the report is logged, just after, in this process: a failed subtest's report is made
            # here as a plain one and logged as a subtest's, whose description the event then carries.
            self.flush()
            self._pending = self.event(
                test_id=report.nodeid,
                file=report.location[0],
                error_class=error_class,
                message=message,
                stack=text,
                phase=report.when or "call",
            )
        return report

    def flush(self) -> None:
        """Write the event a report was made for and not logged yet (a plugin that never logs it)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self.write(pending)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # Under xdist every worker collects, and the controller hears each collection error once: it records them.
        if not report.failed or self.worker:
            return
        self.failures_seen += 1
        text = report.longreprtext
        split = split_error_line(text)
        lines = text.strip().splitlines()
        error_class, message = split if split else ("CollectError", lines[-1] if lines else "")
        self.record(
            test_id=report.nodeid, file=report.nodeid.split("::")[0], error_class=error_class, message=message,
            stack=text, phase="collect",
        )  # fmt: skip

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.failed:
            return
        self.failures_seen += 1
        pending = self._pending
        # Only this process's own report matches (an xdist controller logs its workers' reports and makes none).
        if pending is not None and pending["test_id"] == report.nodeid and pending["phase"] == report.when:
            describe = getattr(report, "_sub_test_description", None)
            if callable(describe):
                pending["subtest"] = str(describe())
            self.flush()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for error in dict.fromkeys(self.write_errors):
            terminalreporter.write_line(f"godel: could not append a failure event to {error}", red=True)
        if self.failures_seen and not self.write_errors:
            terminalreporter.write_line(
                f"godel: failures appended to {self.settings.events_path} (`godel tests events` groups them)"
            )
