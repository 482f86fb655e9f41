"""``godel review | approve | reject | audit verify | export | checkpoint | key | constitution sign | check``."""

from __future__ import annotations

import getpass
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from godel.cli._common import emit_json, pick_run
from godel.errors import GuardError
from godel.redact import redact

# The guard (its keys need cryptography) is imported by the commands that use it: every invocation of the CLI
# registers these commands, `godel --help` too.
if TYPE_CHECKING:
    from godel.archive import Archive
    from godel.guard import AuditKey, PublicKey, TrailLog, TrailReport

__all__ = ["register", "report_trail", "trusted_keys"]

StorageOpt = Annotated[
    str | None, typer.Option("--storage", help="archive URL (default: $GODEL_STORAGE or sqlite:///godel.db)")
]
RunOpt = Annotated[str | None, typer.Option("--run", help="run id or name (default: the latest run)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="who decides (default: human:$USER)")]
PublicKeyOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--public-key",
        help="a public key to check signatures with (repeatable; default: this machine's audit key)",
    ),
]
CheckpointLogOpt = Annotated[
    Path | None,
    typer.Option("--checkpoints", help="also check the archive against this checkpoint log kept outside it"),
]


def _signing_key() -> AuditKey:
    """This machine's audit key; when it is created now, say where it is kept (on stderr, once)."""
    from godel.guard import AuditKeyCreated, load_audit_key

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AuditKeyCreated)
        key = load_audit_key()
    for w in caught:
        if issubclass(w.category, AuditKeyCreated):
            typer.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return key


def trusted_keys(paths: list[Path] | None) -> list[PublicKey]:
    """The public keys signatures are checked with: those given, else this machine's audit key (never created)."""
    from godel.guard import KEY_ENV, KEY_FILE_ENV, default_key_path, find_audit_key, load_public_key

    if paths:
        return [load_public_key(p) for p in paths]
    local = find_audit_key()
    if local is None:
        raise GuardError(
            f"no key to check the audit trail's signatures with: ${KEY_ENV} is not set and there is no key at "
            f"{default_key_path()}",
            hint="pass --public-key FILE (written by `godel audit key --public --out FILE` where the trail was "
            f"signed), or point ${KEY_FILE_ENV} at the audit key",
        )
    return [local.public]


def _only_run(trail: TrailLog, run: str) -> TrailLog:
    named = [rid for rid, head in trail.runs.items() if str(head.get("name")) == run]
    rid = int(run) if run.isdecimal() else (named[0] if named else None)
    if rid is None:
        raise GuardError(f"no run {run!r} in the log", hint="give a run id or name the log holds")
    return replace(
        trail,
        runs={k: v for k, v in trail.runs.items() if k == rid},
        events=[e for e in trail.events if e.run_id == rid],
        checkpoints=[c for c in trail.checkpoints if c.run_id == rid],
    )


def report_trail(report: TrailReport, as_json: bool) -> None:
    """Print a trail report (one JSON document with --json); exit 3 when the trail is broken."""
    if as_json:
        emit_json(report.to_dict())
    else:
        typer.echo(report.message())
    if not report.ok:
        raise typer.Exit(3)


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
        from godel.guard import list_queue

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
        from godel.guard import approve, checkpoint

        archive = open_archive_fn(storage)
        try:
            c = approve(archive, _cid(candidate), _actor(actor))
            checkpoint(archive, c.run_id, _signing_key())  # the decision is signed into the trail at once
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
        from godel.guard import checkpoint, reject

        archive = open_archive_fn(storage)
        try:
            c = reject(archive, _cid(candidate), why, _actor(actor))
            checkpoint(archive, c.run_id, _signing_key())
            if as_json:
                emit_json({"id": c.id, "decision": "rejected", "status": c.status.value, "reason": c.reason})
            else:
                typer.echo(f"candidate {c.id} rejected: {why}")
        finally:
            archive.close()

    audit = typer.Typer(
        help="The audit trail: hash-chained events with checkpoints signed by a key the archive never holds.",
        no_args_is_help=True,
    )
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    def audit_verify(
        storage: StorageOpt = None,
        run: Annotated[str | None, typer.Option("--run", help="one run (default: every run)")] = None,
        log: Annotated[
            Path | None,
            typer.Option(
                "--log", "--file", help="verify an exported log (godel audit export) instead of an archive"
            ),
        ] = None,
        public_key: PublicKeyOpt = None,
        checkpoints: CheckpointLogOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Check the trail: hash chains, signed checkpoints, and every candidate row against its events.

        Exit code 3 when anything was cut, appended, forged, rewritten or edited; the report names what and where.
        """
        from godel.guard import read_log, verify_log, verify_trail

        keys = trusted_keys(public_key)
        witness = read_log(checkpoints).checkpoints if checkpoints is not None else []
        if log is not None:
            trail = read_log(log)
            if run is not None:
                trail = _only_run(trail, run)
            report = verify_log(trail, keys, witness=witness)
        else:
            archive = open_archive_fn(storage)
            try:
                rid = pick_run(archive, run).id if run is not None else None
                report = verify_trail(archive, keys, rid, witness=witness)
            finally:
                archive.close()
        report_trail(report, as_json)

    @audit.command("export")
    def audit_export(
        storage: StorageOpt = None,
        run: Annotated[str | None, typer.Option("--run", help="one run (default: every run)")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="file to write (default: stdout)")] = None,
        checkpoints: Annotated[
            Path | None,
            typer.Option(
                "--checkpoints",
                help="append the checkpoints this file does not hold yet to it (an append-only log kept outside "
                "the archive); the log itself is then written only with --out",
            ),
        ] = None,
    ) -> None:
        """Write the trail as a JSONL log: run headers, verbatim events, signed checkpoints.

        It verifies on another machine with `godel audit verify --log FILE --public-key KEY`.
        """
        from godel.guard import export_checkpoints, export_jsonl, read_log

        archive = open_archive_fn(storage)
        try:
            rid = pick_run(archive, run).id if run is not None else None
            if checkpoints is not None:
                have = read_log(checkpoints).checkpoints if checkpoints.exists() else []
                ids = [rid] if rid is not None else [r.id for r in archive.runs()]
                added = export_checkpoints(archive, checkpoints, ids, have)
                typer.echo(f"appended {added} checkpoint(s) to {checkpoints}", err=True)
                if out is None:
                    return
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

    @audit.command("checkpoint")
    def audit_checkpoint(
        storage: StorageOpt = None,
        run: Annotated[str | None, typer.Option("--run", help="one run (default: every run)")] = None,
        checkpoints: Annotated[
            Path | None, typer.Option("--checkpoints", help="also append the new checkpoints to this log")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Sign each run's trail as it is now.

        For a run written by an older godel, or events added since its last checkpoint. A run whose chain no
        longer links up is refused: a broken trail is never signed.
        """
        from godel.guard import checkpoint

        key = _signing_key()
        archive = open_archive_fn(storage)
        try:
            runs = [pick_run(archive, run)] if run is not None else archive.runs()
            made = {r.id: checkpoint(archive, r.id, key, log=checkpoints) for r in runs}
        finally:
            archive.close()
        if as_json:
            emit_json(
                {
                    "key_id": key.key_id,
                    "checkpoints": {str(k): v.to_dict() if v else None for k, v in made.items()},
                }
            )
            return
        for rid, cp in made.items():
            typer.echo(
                f"run {rid}: no events to sign"
                if cp is None
                else f"run {rid}: signed {cp.size} events (head {cp.head[:16]}...) with key {key.key_id[:16]}"
            )

    @audit.command("key")
    def audit_key(
        public: Annotated[bool, typer.Option("--public", help="print the public key (PEM)")] = False,
        out: Annotated[
            Path | None, typer.Option("--out", help="write the public key (PEM) to this file")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The audit signing key: where it is kept, its id, its public half.

        Created on first use. Give verifiers elsewhere the public key (--public --out FILE).
        """
        key = _signing_key()
        pem = key.public.pem()
        if out is not None:
            out.write_text(pem)
        if as_json:
            emit_json(
                {"key_id": key.key_id, "kept_in": key.source, "created": key.created, "public_key": pem}
            )
            return
        if public and out is None:
            typer.echo(pem.rstrip("\n"))
            return
        typer.echo(f"audit key {key.key_id} kept in {key.source}")
        if out is not None:
            typer.echo(f"public key written to {out}")

    const = typer.Typer(help="Check and sign constitutions.", no_args_is_help=True)
    app.add_typer(const, name="constitution")

    @const.command("check")
    def constitution_check(
        path: Annotated[Path | None, typer.Argument(help="constitution YAML (default: godel's own)")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Validate a constitution and print its SHA-256."""
        from godel.guard import load_constitution

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

        from godel.guard import load_constitution, sign_constitution

        key = os.environ.get(key_env)
        if not key:
            raise GuardError(f"${key_env} is not set", hint=f"export {key_env}=<secret key>")
        load_constitution(path)  # never sign an invalid file
        sign_constitution(path, key)
        typer.echo(f"signed {path} -> {path}.sig")
