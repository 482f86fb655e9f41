"""``godel review | approve | reject | audit verify | audit export | constitution sign | constitution check``."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from godel.cli._common import emit_json, pick_run
from godel.errors import GuardError
from godel.guard import (
    approve,
    export_jsonl,
    list_queue,
    load_constitution,
    read_jsonl,
    reject,
    sign_constitution,
    verify_archive,
    verify_chain,
)
from godel.redact import redact

if TYPE_CHECKING:
    from godel.archive import Archive

__all__ = ["register"]

StorageOpt = Annotated[
    str | None, typer.Option("--storage", help="archive URL (default: $GODEL_STORAGE or sqlite:///godel.db)")
]
RunOpt = Annotated[str | None, typer.Option("--run", help="run id or name (default: the latest run)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="who decides (default: human:$USER)")]


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"human:{getpass.getuser()}"
    except (KeyError, OSError):
        return "human"


def _cid(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise GuardError(
            f"candidate id {text!r} is not a number", hint="use the id `godel review` shows"
        ) from exc


def register(app: typer.Typer, open_archive_fn: Callable[[str | None], Archive]) -> None:
    """Add the guard's commands to the main CLI."""

    @app.command("review")
    def review_cmd(
        storage: StorageOpt = None,
        run: RunOpt = None,
        as_json: JsonOpt = False,
        diff: Annotated[bool, typer.Option("--diff/--no-diff", help="show each diff")] = True,
    ) -> None:
        """List candidates waiting for a human: supervised operations and flagged winners, with diff and reasons."""
        archive = open_archive_fn(storage)
        try:
            r = pick_run(archive, run)
            items = list_queue(archive, r.id)
            if as_json:
                emit_json({"run": r.id, "run_name": r.name, "queue": [i.to_dict() for i in items]})
                return
            if not items:
                typer.echo(f"run {r.name} (#{r.id}): nothing waits for review")
                return
            typer.echo(f"run {r.name} (#{r.id}): {len(items)} candidate(s) wait for review")
            for i in items:
                d = i.to_dict()
                score = "—" if d["score"] is None else f"{d['score']:.6g}"
                typer.echo(
                    f"\n#{d['id']}  iteration {d['iteration']}  parent {d['parent_id']}  {d['kind']}  score {score}"
                )
                for reason in d["reasons"]:
                    typer.echo(f"  reason: {redact(reason)}")
                for flag in d["flags"]:
                    typer.echo(f"  flag:   {redact(flag)}")
                if diff and d["diff"]:
                    typer.echo(redact(d["diff"]).rstrip("\n"))
            typer.echo("\ndecide with: godel approve ID   |   godel reject ID --why TEXT")
        finally:
            archive.close()

    @app.command("approve")
    def approve_cmd(
        candidate: Annotated[str, typer.Argument(help="candidate id")],
        storage: StorageOpt = None,
        actor: ActorOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Approve a supervised candidate (it will be evaluated) or clear a flagged one (it may become best)."""
        archive = open_archive_fn(storage)
        try:
            c = approve(archive, _cid(candidate), _actor(actor))
            what = "cleared" if c.verdict.get("cleared") else "approved"
            if as_json:
                emit_json({"id": c.id, "decision": what, "status": c.status.value})
            else:
                typer.echo(f"candidate {c.id} {what}")
        finally:
            archive.close()

    @app.command("reject")
    def reject_cmd(
        candidate: Annotated[str, typer.Argument(help="candidate id")],
        why: Annotated[str, typer.Option("--why", help="the reason, kept with the candidate")],
        storage: StorageOpt = None,
        actor: ActorOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Reject a supervised or flagged candidate."""
        archive = open_archive_fn(storage)
        try:
            c = reject(archive, _cid(candidate), why, _actor(actor))
            if as_json:
                emit_json({"id": c.id, "decision": "rejected", "status": c.status.value, "reason": c.reason})
            else:
                typer.echo(f"candidate {c.id} rejected: {why}")
        finally:
            archive.close()

    audit = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    def audit_verify(
        storage: StorageOpt = None,
        run: Annotated[str | None, typer.Option("--run", help="one run (default: every run)")] = None,
        file: Annotated[Path | None, typer.Option("--file", help="verify a JSONL export instead")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Check every record's hash chain; names the first edited, deleted, inserted or reordered record."""
        if file is not None:
            report = verify_chain(read_jsonl(file))
        else:
            archive = open_archive_fn(storage)
            try:
                rid = pick_run(archive, run).id if run is not None else None
                report = verify_archive(archive, rid)
            finally:
                archive.close()
        if as_json:
            emit_json(report.to_dict())
        else:
            typer.echo(report.message())
        if not report.ok:
            raise typer.Exit(3)

    @audit.command("export")
    def audit_export(
        storage: StorageOpt = None,
        run: Annotated[str | None, typer.Option("--run", help="one run (default: every run)")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="file to write (default: stdout)")] = None,
    ) -> None:
        """Write the audit trail as JSONL (verbatim records: the export verifies with `audit verify --file`)."""
        archive = open_archive_fn(storage)
        try:
            rid = pick_run(archive, run).id if run is not None else None
            if out is None:
                report = export_jsonl(archive, sys.stdout, rid)
            else:
                with out.open("w", encoding="utf-8") as fh:
                    report = export_jsonl(archive, fh, rid)
        finally:
            archive.close()
        heads = ", ".join(f"run {k}: {v['head']}" for k, v in report.runs.items())
        typer.echo(
            f"exported {report.events} events; chain {'intact' if report.ok else 'BROKEN'}; heads {heads}",
            err=True,
        )

    const = typer.Typer(help="Check and sign constitutions.", no_args_is_help=True)
    app.add_typer(const, name="constitution")

    @const.command("check")
    def constitution_check(
        path: Annotated[Path | None, typer.Argument(help="constitution YAML (default: godel's own)")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Validate a constitution and print its SHA-256."""
        loaded = load_constitution(path)
        c = loaded.constitution
        doc = {
            "path": str(loaded.path),
            "sha256": loaded.sha256,
            "name": c.name,
            "signed": loaded.signed,
            "default": c.default,
            "deny": [r.id for r in c.deny],
            "require_approval": [r.id for r in c.require_approval],
            "allow": [a.operation for a in c.allow],
        }
        if as_json:
            emit_json(doc)
        else:
            typer.echo(
                f"{doc['path']}: valid, sha256 {doc['sha256']}, {len(c.deny)} deny / "
                f"{len(c.require_approval)} approval rules / {len(c.allow)} allowances"
            )

    @const.command("sign")
    def constitution_sign(
        path: Annotated[Path, typer.Argument(help="constitution YAML")],
        key_env: Annotated[
            str, typer.Option("--key-env", help="variable holding the key")
        ] = "GODEL_CONSTITUTION_KEY",
    ) -> None:
        """Write PATH.sig, an HMAC-SHA256 of the file with the key in $GODEL_CONSTITUTION_KEY."""
        import os

        key = os.environ.get(key_env)
        if not key:
            raise GuardError(f"${key_env} is not set", hint=f"export {key_env}=<secret key>")
        load_constitution(path)  # never sign an invalid file
        sign_constitution(path, key)
        typer.echo(f"signed {path} -> {path}.sig")
