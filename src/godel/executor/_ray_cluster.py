"""A local Ray cluster's life cycle and this process's connection to Ray.

Without an address the Ray executor starts a single-node cluster on demand (:class:`LocalRayCluster`): ``ray start
--head`` as a child process on loopback, with an **environment scrubbed of everything but PATH, HOME, the locale and
PYTHONPATH**. Ray starts its head processes with a copy of the starting process's environment, and its workers
inherit the raylet's; starting the head from the engine with ``ray.init()`` would hand every API key of the engine to
every Ray worker. What a Ray worker sees is then: that scrubbed environment, the variables Ray sets itself
(``RAY_*``, ``OMP_NUM_THREADS``, ``PYTHONBREAKPOINT``, ``SPT_NOENV``) and ``env_vars`` if the caller passes them. A
job connected to an existing cluster gets that cluster's environment; Ray does not forward the driver's environment
to workers. Because Ray binds its ports on every interface (and refuses loopback-only node addresses), a locally
started cluster requires Ray's token authentication, with one random token per engine process kept in a 0600 file.

The cluster's head runs under a watchdog that kills every process the cluster started (workers and their sandboxed
jobs included) when this process closes the pipe to it or dies in any way.

A process holds one driver connection to Ray (:func:`connect`/:func:`disconnect`), shared and reference-counted by
every executor in it. Ray itself is imported only when a connection is made.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from godel.errors import SandboxError

__all__ = [
    "PROBE_SECONDS",
    "RAY_INSTALL_HINT",
    "LocalRayCluster",
    "answers",
    "connect",
    "disconnect",
    "host_port",
    "process_tree",
]

log = logging.getLogger("godel.executor.ray")

# Variables passed to a locally started cluster. Everything else (API keys, tokens, cloud credentials) stays out.
# PYTHONPATH goes along so the head's watchdog and every Ray worker import the same godel as this process (a source
# tree on the path would otherwise lose to the installed copy, and the actors would run other code).
_KEEP_ENV = ("HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH")
RAY_INSTALL_HINT = "install Ray with `pip install 'godel[ray]'`"
_DRIVER_GCS_PATIENCE = 10 * 365 * 24 * 3600
PROBE_SECONDS = 1.0


def process_tree(root: int) -> list[int]:
    """``root`` and every live descendant (by parent pid, from /proc), parents before children."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields after the last ")" are reliable.
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    out: list[int] = []
    todo = [root] if os.path.exists(f"/proc/{root}") else []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


# The child that runs `ray start --head --block`. A watchdog thread waits for EOF on stdin, which comes when the
# executor closes the pipe or dies in any way (kill -9 included), then kills every process the cluster started:
# Ray's own fate-sharing covers the head processes but not workers already running, nor their sandboxed jobs.
_HEAD_SHIM = """
import os, signal, sys, threading
from godel.executor._ray_cluster import process_tree

def _watch():
    try:
        sys.stdin.buffer.read()
    finally:
        me = os.getpid()
        for pid in reversed(process_tree(me)):
            if pid != me:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        os._exit(0)

threading.Thread(target=_watch, daemon=True).start()
from ray.scripts.scripts import main
sys.argv = ["ray", *sys.argv[1:]]
main()
"""


def host_port(address: str) -> tuple[str, int] | None:
    """The TCP endpoint behind a Ray address ("host:port" or "ray://host:port"), None when it has none."""
    rest = address.removeprefix("ray://").rsplit("/", 1)[0] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def answers(endpoint: tuple[str, int] | None) -> bool:
    if endpoint is None:
        return True  # nothing to probe: trust Ray's own errors and the timeouts
    try:
        with socket.create_connection(endpoint, timeout=PROBE_SECONDS):
            return True
    except OSError:
        return False


_token_lock = threading.Lock()
_token_env: dict[str, str] = {}
_own_clusters: dict[str, dict[str, str]] = {}  # address -> what a driver needs to join it


def _auth_env() -> dict[str, str]:
    """Token authentication for the clusters this process starts: one token per process, in a 0600 file.

    Ray binds its ports on every interface and refuses loopback-only node addresses, so without a token anyone who
    can reach this machine could run code on the cluster. Ray caches the token once per process, hence one token.
    """
    with _token_lock:
        if not _token_env:
            folder = Path(tempfile.mkdtemp(prefix="godel-ray-auth-", dir="/tmp"))
            path = folder / "auth_token"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            atexit.register(shutil.rmtree, folder, True)
            _token_env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(path)})
        return dict(_token_env)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LocalRayCluster:
    """A single-node Ray cluster on this machine, owned by this process and stopped by :meth:`stop` or its death."""

    def __init__(
        self,
        *,
        num_cpus: int | None = None,
        object_store_mb: int = 200,
        start_timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.num_cpus = num_cpus if num_cpus is not None else (os.cpu_count() or 1)
        self.temp_dir = Path(tempfile.mkdtemp(prefix="godel-ray-", dir="/tmp"))
        port = _free_port()
        child_env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
        child_env.update(
            {
                # The worker interpreter first, so Ray's own scripts and `python` resolve to this virtualenv.
                "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
                "LANG": child_env.get("LANG", "C.UTF-8"),
                "RAY_USAGE_STATS_ENABLED": "0",  # usage stats would phone home
            }
        )
        self.auth_env = _auth_env()
        child_env.update(self.auth_env)
        child_env.update(env or {})
        args = [
            sys.executable,
            "-c",
            _HEAD_SHIM,
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--num-cpus={self.num_cpus}",
            f"--object-store-memory={object_store_mb * 1024 * 1024}",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
        ]
        self._log_path = self.temp_dir / "head.log"
        self._stopped = False
        with open(self._log_path, "wb") as log_file:
            try:
                self.process = subprocess.Popen(
                    args,
                    stdin=subprocess.PIPE,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=child_env,
                    cwd=self.temp_dir,
                    start_new_session=True,
                )
            except OSError as exc:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                raise SandboxError(f"cannot start a local Ray cluster: {exc}", hint=RAY_INSTALL_HINT) from exc
        address_file = self.temp_dir / "ray_current_cluster"
        deadline = time.monotonic() + start_timeout
        while not (address_file.is_file() and address_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                why = (
                    "exited"
                    if self.process.poll() is not None
                    else f"did not start within {start_timeout:g}s"
                )
                self.stop()
                raise SandboxError(
                    f"the local Ray cluster {why}; its log ends with:\n{tail}",
                    hint="check that Ray is installed (`pip install 'godel[ray]'`) and /tmp has free space",
                )
            time.sleep(0.1)
        self.address = address_file.read_text().strip()
        _own_clusters[self.address] = self.auth_env

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """Every live process of the cluster: the head command, Ray's daemons, workers and their jobs."""
        return process_tree(self.process.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Kill every process of the cluster and remove its temporary directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        pids = self.pids()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # the watchdog kills the tree and exits
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("local Ray cluster did not stop within %gs; killing it", timeout)
        # Whatever the watchdog missed (or everything, if it could not run).
        for pid in reversed(pids):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
            self.process.wait(timeout)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


# --- the driver's connection to Ray (one per process, shared by every RayExecutor in it) ---

_conn_lock = threading.Lock()
_conn_users = 0
_conn_address: str | None = None
_conn_owned = False


def connect(address: str, label: str, env_vars: Mapping[str, str]) -> None:
    global _conn_users, _conn_address, _conn_owned
    import ray

    with _conn_lock:
        if ray.is_initialized():
            if _conn_address is not None and _conn_address != address:
                raise SandboxError(
                    f"this process is already connected to the Ray cluster at {_conn_address}, not {label}",
                    hint="close the other RayExecutor first, or pass the same --ray-address",
                )
            if _conn_address is None:  # connected by someone else: use it, never shut it down
                _conn_address, _conn_owned = address, False
        else:
            runtime_env = {"env_vars": dict(env_vars)} if env_vars else None
            # Joining a cluster this process started: present its token (Ray reads it from the environment).
            auth = _own_clusters.get(address)
            if auth:
                os.environ.update(auth)
                # Ray reads its configuration once per process; re-read it so the token mode applies (this is what
                # Ray's own token-auth setup does).
                from ray._raylet import Config  # type: ignore[attr-defined]

                Config.initialize("")
            # Ray terminates a driver whose GCS stays unreachable for 60 s ("The program will terminate"): that
            # would kill the engine with its in-flight candidates. The executor detects a dead cluster itself.
            os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(_DRIVER_GCS_PATIENCE))
            try:
                ray.init(
                    address=address,
                    namespace="godel",
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    runtime_env=runtime_env,
                )
            except Exception as exc:
                raise SandboxError(
                    f"cannot connect to the Ray cluster at {label}: {type(exc).__name__}: {exc}",
                    hint="start it (`ray start --head`), fix --ray-address (host:port, ray://host:10001 or auto), "
                    "or leave --ray-address out to start a local cluster",
                ) from exc
            _conn_address, _conn_owned = address, True
        _conn_users += 1


def disconnect() -> None:
    global _conn_users, _conn_address, _conn_owned
    import ray

    with _conn_lock:
        _conn_users -= 1
        if _conn_users > 0:
            return
        if _conn_owned:
            try:
                ray.shutdown()
            except Exception as exc:  # a cluster that is already gone; nothing is lost, say so
                log.warning("ray.shutdown() failed: %s", exc)
            if _conn_address in _own_clusters:
                # Token mode must not stick to this process (a later cluster may not use it) nor reach its children.
                for key in _own_clusters[_conn_address]:
                    os.environ.pop(key, None)
                from ray._raylet import Config  # type: ignore[attr-defined]

                Config.initialize("")
        _conn_address, _conn_owned = None, False
