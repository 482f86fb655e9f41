"""The plugin's parts on their own: settings, the network decision, events (written by many processes at once)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import select
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from godel.errors import NetworkBlocked, UsageError
from godel.pytest_plugin import (
    DEFAULT_SEED,
    Policy,
    connection_allowed,
    group_events,
    is_loopback_host,
    load_settings,
    make_event,
    read_events,
    repro_command,
    signature,
)
from godel.pytest_plugin._events import MAX_MESSAGE, MAX_STACK, EventWriter
from godel.pytest_plugin._network import active_policy, install, set_policy, uninstall

ENV = {"PYTHONHASHSEED": "random", "FREEZE_TIME": "0", "ALLOW_NET": "0", "GODEL_BLOCK_LOOPBACK": "0"}


# -- settings -----------------------------------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    s = load_settings({}, {}, tmp_path)
    assert (s.seed, s.freeze_time, s.allow_net, s.block_loopback) == (DEFAULT_SEED, False, False, False)
    assert s.events_path == tmp_path / "reports" / "events.ndjson"
    assert s.suite == tmp_path.name


def test_an_option_wins_over_its_variable(tmp_path: Path) -> None:
    env = {"PYTEST_SEED": "5", "GODEL_EVENTS": "/abs/e.ndjson", "GODEL_SUITE": "s", "ALLOW_NET": "yes"}
    s = load_settings(
        {"seed": "9", "block_loopback": True, "events": None, "allow_net": False}, env, tmp_path
    )
    assert (s.seed, s.block_loopback, s.allow_net, s.suite) == (9, True, True, "s")
    assert s.events_path == Path("/abs/e.ndjson")


def test_freeze_time_takes_a_switch_or_an_instant(tmp_path: Path) -> None:
    assert load_settings({}, {"FREEZE_TIME": "1"}, tmp_path).frozen_at == datetime(2024, 1, 1, tzinfo=UTC)
    s = load_settings({}, {"FREEZE_TIME": "2030-05-06T07:08:09"}, tmp_path)
    assert s.freeze_time and s.frozen_at == datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert not load_settings({}, {"FREEZE_TIME": "off"}, tmp_path).freeze_time


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PYTEST_SEED": "abc"}, "PYTEST_SEED"),
        ({"PYTEST_SEED": "-1"}, "PYTEST_SEED"),
        ({"ALLOW_NET": "maybe"}, "ALLOW_NET"),
        ({"GODEL_BLOCK_LOOPBACK": "2"}, "GODEL_BLOCK_LOOPBACK"),
        ({"FREEZE_TIME": "yesterday"}, "FREEZE_TIME"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_variable(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    with pytest.raises(UsageError) as err:
        load_settings({}, env, tmp_path)
    assert named in str(err.value) and err.value.hint


# -- the network decision ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "localhost", "LocalHost.", "db.localhost", "0.0.0.0", "::", "", b"127.0.0.1", "[::1]", "::1%lo"]
)  # fmt: skip
def test_loopback_hosts(host: str | bytes) -> None:
    assert is_loopback_host(host)


# Decided from the text alone: nothing here is ever connected to or looked up.
@pytest.mark.parametrize("host", ["192.0.2.1", "10.0.0.1", "8.8.8.8", "::ffff:8.8.8.8", "2001:db8::1", "example.com", "localhost.example.com", "127.0.0.1.nip.io", None])  # fmt: skip
def test_hosts_off_the_machine(host: object) -> None:
    assert not is_loopback_host(host)


@given(st.ip_addresses(v=4))
def test_ipv4_loopback_is_exactly_127_slash_8_and_the_unspecified_address(ip: object) -> None:
    text = str(ip)
    assert is_loopback_host(text) == (text.startswith("127.") or text == "0.0.0.0")


def test_the_decision_for_each_policy() -> None:
    closed, no_loopback, external = Policy(), Policy(loopback=False), Policy(external=True, loopback=False)
    off_machine = ("192.0.2.1", 80)
    assert not connection_allowed(socket.AF_INET, off_machine, closed)
    assert connection_allowed(socket.AF_INET, ("127.0.0.1", 80), closed)
    assert connection_allowed(socket.AF_INET6, ("::1", 80, 0, 0), closed)
    assert not connection_allowed(socket.AF_INET, ("127.0.0.1", 80), no_loopback)
    assert connection_allowed(socket.AF_INET, off_machine, external)
    assert not connection_allowed(socket.AF_INET, ("localhost", 80), external)
    # Unix sockets are not the network (PostgreSQL's, Ray's): never refused.
    assert connection_allowed(socket.AF_UNIX, "/tmp/.s.PGSQL.5432", Policy(external=False, loopback=False))


@pytest.fixture
def guard() -> object:
    before = active_policy()
    install()
    yield None
    uninstall()
    set_policy(before)


def _listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    return server


@pytest.mark.usefixtures("guard")
def test_loopback_blocked_is_refused_before_any_connection() -> None:
    server = _listener()
    port = server.getsockname()[1]
    set_policy(Policy(loopback=False, where="here::test"))
    try:
        for connect in (
            lambda: socket.create_connection(("127.0.0.1", port), timeout=5),
            lambda: socket.socket().connect(("127.0.0.1", port)),
            lambda: socket.socket().connect_ex(("localhost", port)),
            lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", port)),
        ):
            with pytest.raises(NetworkBlocked) as err:
                connect()
            assert isinstance(err.value, OSError)
            text = str(err.value)
            assert f"127.0.0.1:{port}" in text or f"localhost:{port}" in text
            assert (
                "here::test" in text and "GODEL_BLOCK_LOOPBACK=1" in text and "@pytest.mark.external" in text
            )
        # Nothing reached the server: no connection is waiting to be accepted.
        assert select.select([server], [], [], 0.2)[0] == []
        set_policy(Policy(loopback=True))
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            assert select.select([server], [], [], 5)[0] == [server]
    finally:
        server.close()


@pytest.mark.usefixtures("guard")
def test_the_refusal_of_a_host_off_the_machine_says_how_to_allow_it() -> None:
    # The message only; the guard's refusal off the machine is decided by connection_allowed (tested above).
    from godel.pytest_plugin._network import _refusal

    text = str(_refusal(("192.0.2.1", 443), Policy(where="t.py::test_x")))
    assert "192.0.2.1:443 in t.py::test_x" in text
    assert "ALLOW_NET=1" in text and "@pytest.mark.external" in text and "-p no:godel" in text


def test_uninstall_puts_the_socket_methods_back() -> None:
    before = (socket.socket.__dict__.get("connect"), socket.create_connection)
    outer = active_policy()
    install()
    install()  # nested sessions: the second install is counted, not applied twice
    assert socket.socket.connect.__wrapped__ is not None  # type: ignore[attr-defined]
    uninstall()
    assert hasattr(socket.socket.connect, "__wrapped__")
    uninstall()
    set_policy(outer)
    assert (socket.socket.__dict__.get("connect"), socket.create_connection) == before


# -- events -------------------------------------------------------------------------------------------------------


def _event(**over: object) -> dict[str, object]:
    fields: dict[str, object] = dict(
        ts=1_700_000_000.25, suite="s", test_id="tests/t.py::test_a", file="tests/t.py", error_class="ValueError",
        message="bad", stack="Traceback...", seed=1337, env=ENV, phase="call",
    )  # fmt: skip
    fields.update(over)
    return make_event(**fields)  # type: ignore[arg-type]


def test_an_event_has_every_field_and_its_signature_is_the_documented_hash() -> None:
    e = _event()
    assert set(e) >= {"ts", "suite", "test_id", "file", "error_class", "message", "stack", "repro_cmd", "seed", "env", "signature"}  # fmt: skip
    assert e["ts"] == "2023-11-14T22:13:20.250Z"
    digest = hashlib.sha256(b"ValueError|tests/t.py::test_a|bad").hexdigest()[:16]
    assert e["signature"] == digest == signature("ValueError", "tests/t.py::test_a", "bad")
    assert e["env"] == ENV and e["seed"] == 1337


def test_sizes_secrets_and_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789-secret-value")
    e = _event(
        message="key sk-abcdefghijklmnopqrstuvwx; <Foo object at 0x7f3a9c2b1d40>; tok-0123456789-secret-value " + "m" * 1000,
        stack="S" * 5000 + "where it failed",
    )  # fmt: skip
    assert len(str(e["message"])) == MAX_MESSAGE
    assert "sk-abcdefghijklmnop" not in str(e["message"]) and "tok-0123456789" not in str(e["message"])
    assert "0x7f3a9c2b1d40" not in str(e["message"]) and "object at 0x…" in str(e["message"])
    assert len(str(e["stack"])) == MAX_STACK and str(e["stack"]).endswith("where it failed")
    assert e["signature"] == signature("ValueError", "tests/t.py::test_a", str(e["message"]))


def test_the_repro_command_quotes_the_node_id_and_fixes_the_hash_seed() -> None:
    cmd = repro_command("t.py::test_x[a b-$HOME]", 7, {**ENV, "FREEZE_TIME": "1"})
    assert cmd == "PYTEST_SEED=7 PYTHONHASHSEED=0 FREEZE_TIME=1 pytest -q 't.py::test_x[a b-$HOME]'"
    assert repro_command("t.py::t", 1, {**ENV, "PYTHONHASHSEED": "123"}).startswith(
        "PYTEST_SEED=1 PYTHONHASHSEED=123 "
    )


def _append_many(path: str, worker: int, n: int) -> None:
    writer = EventWriter(Path(path))
    for i in range(n):
        writer.write(_event(test_id=f"t.py::test_{worker}_{i}", message=f"{worker}-{i}-" + "x" * 3000))
    writer.close()


def test_many_processes_appending_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "events.ndjson"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(path), w, 100)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = path.read_bytes().splitlines()
    assert len(lines) == 6 * 100
    ids = {json.loads(line)["test_id"] for line in lines}  # every line a whole JSON object
    assert len(ids) == 6 * 100


def test_reading_counts_what_is_not_an_event_and_groups_by_signature(tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    first = _event(ts=1_700_000_000.0)
    again = _event(ts=1_700_000_100.0)
    other = _event(ts=1_700_000_050.0, test_id="tests/t.py::test_b")
    lines = [json.dumps(x) for x in (first, other, again)] + ["{not json", '{"a": 1}', ""]
    path.write_text("\n".join(lines) + "\n")
    log = read_events(path)
    assert (len(log.events), log.malformed) == (3, 2)
    groups = group_events(log.events)
    assert [(g.test_id, g.count) for g in groups] == [("tests/t.py::test_a", 2), ("tests/t.py::test_b", 1)]
    assert (groups[0].first_seen, groups[0].last_seen) == (
        "2023-11-14T22:13:20.000Z",
        "2023-11-14T22:15:00.000Z",
    )
    assert groups[0].repro_cmd == "PYTEST_SEED=1337 PYTHONHASHSEED=0 pytest -q tests/t.py::test_a"


def test_an_unreadable_events_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        read_events(tmp_path)  # a folder
    assert os.path.isdir(tmp_path)
