"""``godel sandbox run|bench`` and ``godel doctor``: the sandbox, for users and for checking it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from godel.errors import GodelError

# Only the sandbox package's public names (these commands belong with the CLI, above the sandbox, and can move there
# as is), imported inside the commands: every invocation of the CLI registers them, `godel --help` too.

__all__ = ["register"]

_BACKENDS = ("auto", "zygote", "exec", "wasm", "unsafe-subprocess")


def _json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def register(app: typer.Typer) -> None:
    sandbox_app = typer.Typer(help="Run code in the sandbox and measure it.", no_args_is_help=True)
    app.add_typer(sandbox_app, name="sandbox")

    @sandbox_app.command("run")
    def run(
        file: Annotated[
            Path, typer.Argument(help="Python file to run as __main__ in a fresh scratch directory")
        ],
        timeout: Annotated[float, typer.Option(help="wall-clock limit, seconds")] = 10.0,
        memory: Annotated[int, typer.Option(help="total memory limit, MB")] = 512,
        backend: Annotated[str, typer.Option(help=" | ".join(_BACKENDS))] = "auto",
        allow_unsafe: Annotated[bool, typer.Option("--allow-unsafe")] = False,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Run FILE in the sandbox and print the result document (which limit, if any, ended it)."""
        from godel.config import SandboxConfig
        from godel.sandbox import Job, Limits, make_sandbox

        if backend not in _BACKENDS:
            raise GodelError(f"unknown backend {backend!r}", hint=f"use one of {', '.join(_BACKENDS)}")
        try:
            code = file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise GodelError(f"cannot read {file}: {exc}", hint="pass a readable Python source file") from exc
        if backend == "unsafe-subprocess" and not allow_unsafe:
            raise GodelError("unsafe-subprocess runs code without containment", hint="add --allow-unsafe")
        config = SandboxConfig(backend=backend, allow_unsafe=allow_unsafe, memory_mb=memory)  # type: ignore[arg-type]
        box = make_sandbox(config, slots=1)
        try:
            res = box.run(
                Job(code=code, limits=Limits(wall_seconds=timeout, memory_mb=memory), label=file.name)
            )
        finally:
            box.close()
        doc = res.to_dict(output_chars=20_000)
        doc["result"] = res.result.decode("utf-8", "replace") if res.result is not None else None
        if as_json:
            _json(doc)
        else:
            typer.echo(f"{res.backend}: {res.termination}" + (f" ({res.reason})" if res.reason else ""))
            typer.echo(
                f"wall {res.wall_seconds:.3f}s cpu {res.cpu_seconds:.3f}s peak memory {res.peak_memory_mb:.1f} MB"
                f" exit {res.exit_code}"
            )
            if res.stdout:
                typer.echo(res.stdout.rstrip())
            if res.stderr:
                typer.echo(res.stderr.rstrip(), err=True)
        if res.termination != "ok":
            raise typer.Exit(1)

    @sandbox_app.command("bench")
    def bench_cmd(
        n: Annotated[int, typer.Option("-n", help="jobs per backend")] = 200,
        backends: Annotated[
            str, typer.Option(help="comma-separated backends")
        ] = "zygote,exec,unsafe-subprocess,wasm",
        slots: Annotated[int, typer.Option(help="parallel slots")] = 2,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Start-to-result overhead p50/p90 and evaluations/s per backend, on a trivial job."""
        from godel.sandbox import bench, format_bench

        rows = bench([b.strip() for b in backends.split(",") if b.strip()], n, slots=slots)
        if as_json:
            _json({"backends": rows})
        else:
            typer.echo(format_bench(rows))

    @app.command()
    def doctor(
        as_json: Annotated[bool, typer.Option("--json")] = False,
        archive: Annotated[
            str | None,
            typer.Option(
                "--archive",
                help="check this archive instead: its storage (SQLite integrity_check) and every run's audit trail",
            ),
        ] = None,
        public_key: Annotated[
            list[Path] | None,
            typer.Option("--public-key", help="with --archive: a public key the trail may be signed with"),
        ] = None,
        checkpoints: Annotated[
            Path | None,
            typer.Option("--checkpoints", help="with --archive: a checkpoint log kept outside the archive"),
        ] = None,
    ) -> None:
        """Which isolation features this machine offers and which backend/level godel will use; with ``--archive``,
        whether an archive is intact (exit 3 when it is not)."""
        from godel.sandbox import probe

        if archive is not None:
            from godel.cli._read import archive_doctor

            archive_doctor(archive, public_keys=public_key, checkpoints=checkpoints, as_json=as_json)
            return
        features = probe()
        if as_json:
            _json(features)
            return
        typer.echo(
            f"isolation level: {features['level']} (minimum for untrusted code: {features['minimum_level']})"
        )
        typer.echo(
            f"backend: {features['backend'] or 'none — godel refuses untrusted code unless --allow-unsafe'}"
        )
        ns = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in features["namespaces"].items())
        typer.echo(f"namespaces: {ns}")
        cg = features["cgroup"]
        typer.echo(f"cgroup: v{cg['version']} usable={cg['usable']} ({cg['detail']})")
        typer.echo(
            f"landlock ABI {features['landlock_abi']}, seccomp {features['seccomp']}, "
            f"no_new_privs {features['no_new_privs']}, uid drop {features['uid_drop']}, wasm {features['wasm']}"
        )
        for item in features["missing"]:
            typer.echo(f"missing: {item}")
        for item in features["missing_for_full"]:
            typer.echo(f"missing for level 'full': {item}")
