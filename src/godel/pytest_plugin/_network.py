"""The network guard: Python-level connections leave the machine only when a test is allowed to.

``socket.socket.connect``, ``connect_ex`` and ``sendto`` and ``socket.create_connection`` are wrapped while the
plugin is active. Each call is judged from the address it was given, before anything is resolved or sent: an IP
literal is looked at as it is, ``localhost`` (and ``*.localhost``, RFC 6761) is loopback, and any other host name
is refused when the network is off, since looking it up would already be traffic. Unix sockets and other
non-IP families are never touched (PostgreSQL's local socket, Ray's, pipes to subprocesses).

Connections made from C without Python's socket module (libpq, gRPC's core) are outside its reach, and so are
processes the test starts: the guard is a safety net for tests, not a sandbox.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from godel.errors import NetworkBlocked

__all__ = [
    "Policy",
    "active_policy",
    "connection_allowed",
    "install",
    "is_loopback_host",
    "set_policy",
    "uninstall",
]

_IP_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})


@dataclass(frozen=True)
class Policy:
    """What one test may reach; ``where`` names the test in the refusal message."""

    external: bool = False
    loopback: bool = True
    where: str = ""
    # Why loopback is off, for the message: the setting's spelling.
    loopback_setting: str = "--godel-block-loopback / GODEL_BLOCK_LOOPBACK=1"


OPEN = Policy(external=True, loopback=True)


def is_loopback_host(host: object) -> bool:
    """Whether a connection to ``host`` stays on this machine, decided without a name lookup.

    Loopback addresses (127.0.0.0/8, ::1, IPv4-mapped ones), the unspecified addresses (a connect to 0.0.0.0 or
    :: reaches this host) and the name ``localhost`` count; every other name does not.
    """
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip().rstrip(".").lower()
    if name in ("", "localhost") or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _host(address: object) -> object:
    if isinstance(address, tuple) and address:
        return address[0]
    return address


def connection_allowed(family: int, address: object, policy: Policy) -> bool:
    """The guard's decision for a connect (or a datagram) to ``address`` on a socket of ``family``."""
    if family not in _IP_FAMILIES:
        return True
    if is_loopback_host(_host(address)):
        return policy.loopback
    return policy.external


def _refusal(address: object, policy: Policy) -> NetworkBlocked:
    shown = (
        f"{address[0]}:{address[1]}" if isinstance(address, tuple) and len(address) >= 2 else repr(address)
    )
    test = f" in {policy.where}" if policy.where else ""
    if is_loopback_host(_host(address)):
        why = f"loopback is blocked too ({policy.loopback_setting})"
        fix = "drop that setting or mark the test @pytest.mark.external"
    else:
        why = "the network is off in tests (ALLOW_NET=0)"
        fix = "mark the test @pytest.mark.external or run with ALLOW_NET=1"
    exc = NetworkBlocked(
        f"godel's pytest plugin refused a connection to {shown}{test}: {why}",
        hint=f"{fix}; -p no:godel turns the plugin off",
    )
    # EACCES, not a refusal or an unreachable network: callers that retry those must not spin on a decision.
    exc.errno = errno.EACCES
    return exc


_lock = threading.Lock()
_policy = OPEN
_installs = 0
_saved: dict[str, Any] = {}


def active_policy() -> Policy:
    return _policy


def set_policy(policy: Policy) -> None:
    """The policy every thread of this process is judged by from now on (the plugin sets one per test)."""
    global _policy
    _policy = policy


def _check(family: int, address: object) -> None:
    __tracebackhide__ = True  # pytest shows the test's line that connected, not the guard's frames
    policy = _policy
    if not connection_allowed(family, address, policy):
        raise _refusal(address, policy)


def _wrap_method(original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(self: socket.socket, address: Any, *args: Any) -> Any:
        __tracebackhide__ = True
        _check(self.family, address)
        return original(self, address, *args)

    guarded.__wrapped__ = original  # type: ignore[attr-defined]
    guarded.__name__ = original.__name__
    return guarded


def _wrap_sendto(original: Callable[..., Any]) -> Callable[..., Any]:
    # sendto(data, address) or sendto(data, flags, address): the address is always the last argument.
    def sendto(self: socket.socket, data: Any, *args: Any) -> Any:
        __tracebackhide__ = True
        if args:
            _check(self.family, args[-1])
        return original(self, data, *args)

    sendto.__wrapped__ = original  # type: ignore[attr-defined]
    return sendto


def _wrap_create_connection(original: Callable[..., Any]) -> Callable[..., Any]:
    # Judged before create_connection resolves the name: the lookup would be traffic of its own.
    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        _check(socket.AF_INET, address)
        return original(address, *args, **kwargs)

    create_connection.__wrapped__ = original  # type: ignore[attr-defined]
    return create_connection


_METHODS = ("connect", "connect_ex", "sendto")


def install() -> None:
    """Wrap the socket functions (once per process however many sessions nest: pytester runs in-process)."""
    global _installs
    with _lock:
        _installs += 1
        if _installs > 1:
            return
        for name in _METHODS:
            # What the class itself defined (None: the method comes from _socket.socket), to put back as it was.
            _saved[name] = socket.socket.__dict__.get(name)
        _saved["create_connection"] = socket.create_connection
        socket.socket.connect = _wrap_method(socket.socket.connect)  # type: ignore[method-assign]
        socket.socket.connect_ex = _wrap_method(socket.socket.connect_ex)  # type: ignore[method-assign]
        socket.socket.sendto = _wrap_sendto(socket.socket.sendto)  # type: ignore[method-assign]
        socket.create_connection = _wrap_create_connection(socket.create_connection)


def uninstall() -> None:
    """Undo :func:`install` when the last session that installed the guard ends."""
    global _installs
    with _lock:
        if _installs == 0:
            return
        _installs -= 1
        if _installs:
            return
        for name in _METHODS:
            if _saved[name] is None:
                delattr(socket.socket, name)
            else:
                setattr(socket.socket, name, _saved[name])
        socket.create_connection = _saved["create_connection"]
        _saved.clear()
        set_policy(OPEN)
