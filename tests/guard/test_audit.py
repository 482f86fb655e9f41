"""The audit trail: the hash chain names the first edited, deleted, inserted or reordered record; the signed
checkpoints and the row check catch what an attacker who re-chains, cuts, appends or edits candidate rows does."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import sqlite3
import threading
import warnings
import zlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from godel.archive import GENESIS, Archive, Event, canonical_json, event_hash, open_archive
from godel.archive.testing import make_candidate
from godel.candidate import Program, Status
from godel.errors import GuardError
from godel.guard import (
    KEY_ENV,
    KEY_FILE_ENV,
    AuditKey,
    AuditKeyCreated,
    Checkpointer,
    TrailReport,
    checkpoint,
    checkpoint_valid,
    export_checkpoints,
    export_jsonl,
    find_audit_key,
    load_audit_key,
    load_public_key,
    read_jsonl,
    read_log,
    sign_checkpoint,
    verify_archive,
    verify_chain,
    verify_log,
    verify_trail,
)


def _chain(n: int, run_id: int = 1) -> list[Event]:
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        payload = {"candidate": seq, "score": seq / 3}
        h = event_hash(prev, run_id, seq, "evaluation", "engine", payload, 1000.0 + seq)
        out.append(Event(seq, run_id, seq, "evaluation", "engine", payload, 1000.0 + seq, prev, h))
        prev = h
    return out


def test_intact_chain() -> None:
    rep = verify_chain(_chain(5) + _chain(3, run_id=2))
    assert rep.ok and rep.events == 8 and rep.first_bad is None
    assert rep.runs[1]["head"] == _chain(5)[-1].hash


def test_edited_record() -> None:
    evs = _chain(5)
    evs[2] = dataclasses.replace(evs[2], payload={"candidate": 3, "score": 99.0})
    rep = verify_chain(evs)
    assert not rep.ok and rep.first_bad is not None
    assert (rep.first_bad.seq, rep.first_bad.position) == (3, 3) and "edited" in rep.first_bad.problem


def test_deleted_record() -> None:
    evs = _chain(5)
    del evs[1]
    rep = verify_chain(evs)
    assert rep.first_bad is not None and rep.first_bad.seq == 3 and "deleted" in rep.first_bad.problem


def test_inserted_record() -> None:
    evs = _chain(5)
    forged = dataclasses.replace(evs[1], id=99, payload={"candidate": 42})
    evs.insert(2, forged)
    rep = verify_chain(evs)
    assert rep.first_bad is not None and rep.first_bad.id == 99 and rep.first_bad.position == 3


def test_reordered_records() -> None:
    evs = _chain(5)
    evs[1], evs[3] = evs[3], evs[1]
    rep = verify_chain(evs)
    assert rep.first_bad is not None and rep.first_bad.position == 2 and rep.first_bad.seq == 4


def test_rechained_forgery_with_fresh_hashes_is_caught_at_the_edit() -> None:
    # An attacker who edits a record and recomputes *its* hash still breaks the next record's prev_hash.
    evs = _chain(4)
    e = evs[1]
    payload = {"candidate": 2, "score": 1e9}
    evs[1] = dataclasses.replace(
        e, payload=payload, hash=event_hash(e.prev_hash, 1, 2, e.kind, e.actor, payload, e.created_at)
    )
    rep = verify_chain(evs)
    assert rep.first_bad is not None and rep.first_bad.seq == 3 and "prev_hash" in rep.first_bad.problem


@given(st.integers(2, 12), st.data())
def test_any_single_edit_is_found_at_its_position(n: int, data: st.DataObject) -> None:
    evs = _chain(n)
    i = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["kind", "actor", "created_at", "payload"]))
    value = {"kind": "promotion", "actor": "mallory", "created_at": 1.5, "payload": {"x": 1}}[field]
    evs[i] = dataclasses.replace(evs[i], **{field: value})
    rep = verify_chain(evs)
    assert rep.first_bad is not None and rep.first_bad.position == i + 1


def _filled(archive: Archive, n: int = 6) -> int:
    run = archive.create_run("r", "t", {})
    for i in range(n):
        archive.add_event(run.id, "proposal", {"candidate": i, "note": "x" * i}, actor="engine")
    return run.id


def test_real_sqlite_archive_tampering(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    archive = open_archive(f"sqlite:///{db}")
    rid = _filled(archive)
    assert verify_archive(archive).ok
    buf = io.StringIO()
    assert export_jsonl(archive, buf).ok
    (tmp_path / "x.jsonl").write_text(buf.getvalue())
    assert verify_chain(read_jsonl(tmp_path / "x.jsonl")).ok
    archive.close()

    con = sqlite3.connect(db)
    con.execute(
        "UPDATE events SET payload = ? WHERE run_id = ? AND seq = 4", ('{"candidate":99,"note":"xxx"}', rid)
    )
    con.commit()
    con.close()
    archive = open_archive(f"sqlite:///{db}")
    rep = verify_archive(archive)
    archive.close()
    assert not rep.ok and rep.first_bad is not None and rep.first_bad.seq == 4

    con = sqlite3.connect(db)
    con.execute("DELETE FROM events WHERE run_id = ? AND seq = 4", (rid,))
    con.commit()
    con.close()
    archive = open_archive(f"sqlite:///{db}")
    rep = verify_archive(archive)
    archive.close()
    assert rep.first_bad is not None and rep.first_bad.seq == 5 and "deleted" in rep.first_bad.problem


# -- the signed trail ---------------------------------------------------------------------------------------------
# A run written as the engine writes it (proposal and evaluation events carrying the code digest, a detector flag,
# run_end), checkpointed every few events and at its end, then tampered with by someone who can write the SQLite
# file (sqlite3) but does not hold the audit key.


@pytest.fixture
def key() -> AuditKey:
    return AuditKey(Ed25519PrivateKey.generate(), "test")


def _write_run(archive: Archive, key: AuditKey, n: int = 6, *, every: int = 5, name: str = "r") -> int:
    run = archive.create_run(name, "t", {})
    signer = Checkpointer(archive, key, every=every)

    def emit(kind: str, payload: dict[str, Any], actor: str = "engine") -> None:
        signer.observe(archive.add_event(run.id, kind, payload, actor=actor))

    emit("start", {"iterations": n})
    parent = None
    for i in range(n):
        cand = make_candidate(run.id, i, parent_id=parent, generation=i, code=f"x = {i}\n")
        archive.add_candidate(cand)
        emit("proposal", {"candidate": cand.id, "iteration": i, "digest": cand.code_digest})
        if i == 3:
            cand.status, cand.reason = Status.FAILED, "ZeroDivisionError"
        else:
            cand.status, cand.score = Status.OK, 0.5 + i / 100
        if i == 4:
            cand.flags = ["score-jump: +9 sigma"]
            emit("flag", {"candidate": cand.id, "flags": cand.flags, "score": cand.score}, actor="guard")
        archive.update_candidate(cand)
        emit(
            "evaluation",
            {
                "candidate": cand.id,
                "iteration": i,
                "status": cand.status.value,
                "score": cand.score,
                "reason": cand.reason,
                "flags": cand.flags,
                "digest": cand.code_digest,
            },
        )
        if cand.status is Status.OK and not cand.flags:
            parent = cand.id
    emit("run_end", {"stopped": "iterations"})
    archive.update_run(run.id, status="finished")
    assert signer.close(run.id) is not None
    return run.id


def _sql(db: Path, statement: str, *params: Any) -> None:
    con = sqlite3.connect(db)
    con.execute(statement, params)
    con.commit()
    con.close()


def _rechain(db: Path, run_id: int) -> None:
    """What an attacker without the key can do after an edit: recompute every hash of the run's chain."""
    con = sqlite3.connect(db)
    prev = GENESIS
    rows = con.execute(
        "SELECT id, seq, kind, actor, payload, created_at FROM events WHERE run_id = ? ORDER BY seq",
        (run_id,),
    ).fetchall()
    for seq, (eid, _, kind, actor, payload, created_at) in enumerate(rows, start=1):
        h = event_hash(prev, run_id, seq, kind, actor, json.loads(payload), created_at)
        con.execute("UPDATE events SET seq = ?, prev_hash = ?, hash = ? WHERE id = ?", (seq, prev, h, eid))
        prev = h
    con.commit()
    con.close()


def _audit(db: Path, key: AuditKey, **kw: Any) -> TrailReport:
    archive = open_archive(f"sqlite:///{db}")
    try:
        return verify_trail(archive, [key.public], **kw)
    finally:
        archive.close()


def _kinds(report: TrailReport) -> set[str]:
    return {p.kind for p in report.problems}


@pytest.fixture
def trail(tmp_path: Path, key: AuditKey) -> tuple[Path, int]:
    db = tmp_path / "trail.db"
    archive = open_archive(f"sqlite:///{db}")
    try:
        rid = _write_run(archive, key)
        _write_run(archive, key, 3, name="other")
    finally:
        archive.close()
    return db, rid


def test_an_untouched_trail_verifies(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    report = _audit(db, key)
    assert report.ok, report.message()
    run = report.runs[0]
    assert run.events == 15 and run.signed == 15 and run.checkpoints == 3 and run.candidates == 6
    assert "intact" in report.message() and key.key_id[:16] in report.message()
    assert report.to_dict()["ok"] is True and report.to_dict()["runs"][str(rid)]["signed"] == 15


def test_an_edited_event_breaks_the_chain(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    _sql(db, "UPDATE events SET actor = 'mallory' WHERE run_id = ? AND seq = 7", rid)
    report = _audit(db, key)
    assert _kinds(report) == {"chain"} and report.problems[0].seq == 7


def test_cutting_off_the_last_events_is_truncation(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    _sql(db, "DELETE FROM events WHERE run_id = ? AND seq > 12", rid)
    report = _audit(db, key)
    assert "truncated" in _kinds(report) and not report.ok
    assert "15 events, 12 are left" in report.message()


def test_cutting_events_and_their_final_checkpoint_leaves_an_unsigned_end(
    trail: tuple[Path, int], key: AuditKey
) -> None:
    db, rid = trail
    _sql(db, "DELETE FROM events WHERE run_id = ? AND seq > 12", rid)
    _sql(db, "DELETE FROM checkpoints WHERE run_id = ? AND size > 10", rid)
    report = _audit(db, key)
    assert (
        _kinds(report) >= {"unsigned"} and "2 event(s) after the last signed checkpoint" in report.message()
    )


def test_an_appended_forged_event_is_found(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    con = sqlite3.connect(db)
    seq, prev = con.execute(
        "SELECT seq, hash FROM events WHERE run_id = ? ORDER BY seq DESC", (rid,)
    ).fetchone()
    payload = {"candidate": 1, "decision": "cleared", "flags": []}
    h = event_hash(prev, rid, seq + 1, "approval", "human:alice", payload, 1e9)
    con.execute(
        "INSERT INTO events (run_id, seq, kind, actor, payload, created_at, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
        (rid, seq + 1, "approval", "human:alice", canonical_json(payload), 1e9, prev, h),
    )
    con.commit()
    con.close()
    report = _audit(db, key)
    assert _kinds(report) == {"unsigned"} and report.problems[0].seq == 16


def test_a_run_whose_events_were_all_deleted(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    _sql(db, "DELETE FROM events WHERE run_id = ?", rid)
    assert {"no-events", "truncated"} <= _kinds(_audit(db, key))
    _sql(db, "DELETE FROM checkpoints WHERE run_id = ?", rid)
    report = _audit(db, key)
    assert "no-events" in _kinds(report) and "6 candidate(s) but no events" in report.message()


def test_an_edit_with_the_chain_recomputed_is_found(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    con = sqlite3.connect(db)
    (payload,) = con.execute("SELECT payload FROM events WHERE run_id = ? AND seq = 5", (rid,)).fetchone()
    con.close()
    doc = json.loads(payload)
    assert doc["score"] == 0.51
    doc["score"] = 0.99
    _sql(db, "UPDATE events SET payload = ? WHERE run_id = ? AND seq = 5", canonical_json(doc), rid)
    _rechain(db, rid)
    archive = open_archive(f"sqlite:///{db}")
    try:
        assert verify_chain(archive.events(rid)).ok  # the unkeyed chain alone is fooled
    finally:
        archive.close()
    report = _audit(db, key)
    assert "rewritten" in _kinds(report) and "recomputed" in report.message()


def test_a_deleted_flag_event_with_the_chain_recomputed_is_found(
    trail: tuple[Path, int], key: AuditKey
) -> None:
    db, rid = trail
    _sql(db, "DELETE FROM events WHERE run_id = ? AND kind = 'flag'", rid)
    _rechain(db, rid)
    report = _audit(db, key)
    assert "rewritten" in _kinds(report) or "truncated" in _kinds(report)
    assert not report.ok


def test_edited_candidate_score_and_status_disagree_with_their_events(
    trail: tuple[Path, int], key: AuditKey
) -> None:
    db, rid = trail
    _sql(db, "UPDATE candidates SET score = 0.99 WHERE run_id = ? AND iteration = 1", rid)
    report = _audit(db, key)
    assert _kinds(report) == {"row"} and "score 0.99" in report.message() and "score 0.51" in report.message()
    _sql(db, "UPDATE candidates SET score = 0.51 WHERE run_id = ? AND iteration = 1", rid)
    assert _audit(db, key).ok
    _sql(
        db,
        "UPDATE candidates SET status = 'ok', score = 0.97, reason = NULL WHERE run_id = ? AND iteration = 3",
        rid,
    )
    report = _audit(db, key)
    assert (
        _kinds(report) == {"row"}
        and "its row says ok" in report.message()
        and "says failed" in report.message()
    )


def test_a_cleared_hacking_flag_in_the_row_only_is_found(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    _sql(db, "UPDATE candidates SET flagged = 0, flags = '[]' WHERE run_id = ? AND iteration = 4", rid)
    report = _audit(db, key)
    assert _kinds(report) == {"row"} and "hacking flag" in report.message()


def test_replaced_code_is_found_with_or_without_its_digest(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    other = Program.single("main.py", "x = 'evil'\n")
    blob = zlib.compress(other.to_json().encode())
    _sql(db, "UPDATE candidates SET code = ? WHERE run_id = ? AND iteration = 2", blob, rid)
    report = _audit(db, key)
    assert _kinds(report) == {"row"} and "does not match the digest" in report.message()
    _sql(db, "UPDATE candidates SET digest = ? WHERE run_id = ? AND iteration = 2", other.digest(), rid)
    report = _audit(db, key)
    assert _kinds(report) == {"row"} and "its events recorded" in report.message()


def test_a_deleted_candidate_row_is_found(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    _sql(
        db, "DELETE FROM candidates WHERE run_id = ? AND iteration = 5", rid
    )  # a leaf: no child refers to it
    report = _audit(db, key)
    assert _kinds(report) == {"row"} and "its row was deleted" in report.message()


def test_a_candidate_no_event_mentions_is_found(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    archive = open_archive(f"sqlite:///{db}")
    try:
        archive.add_candidate(make_candidate(rid, 50, status=Status.OK, score=0.99))
    finally:
        archive.close()
    report = _audit(db, key)
    assert _kinds(report) == {"row"} and "appears in no event" in report.message()


def test_checkpoints_signed_with_another_key_or_edited_are_forged(
    trail: tuple[Path, int], key: AuditKey
) -> None:
    db, rid = trail
    # The attacker rewrites the chain and signs it with a key of their own.
    _sql(db, "UPDATE events SET actor = 'mallory' WHERE run_id = ? AND seq = 3", rid)
    _rechain(db, rid)
    mallory = AuditKey(Ed25519PrivateKey.generate(), "mallory")
    con = sqlite3.connect(db)
    heads = con.execute("SELECT seq, hash FROM events WHERE run_id = ? ORDER BY seq", (rid,)).fetchall()
    con.execute("DELETE FROM checkpoints WHERE run_id = ?", (rid,))
    seq, head = heads[-1]
    forged = sign_checkpoint(mallory, rid, seq, head, 2e9)
    con.execute(
        "INSERT INTO checkpoints (run_id, size, head, created_at, key_id, signature) VALUES (?,?,?,?,?,?)",
        (rid, seq, head, 2e9, forged.key_id, forged.signature),
    )
    con.commit()
    con.close()
    report = _audit(db, key)
    assert _kinds(report) == {"forged"} and "not trusted" in report.message()
    # ... or claims our key id with a signature that does not verify.
    _sql(db, "UPDATE checkpoints SET key_id = ? WHERE run_id = ?", key.key_id, rid)
    report = _audit(db, key)
    assert "forged" in _kinds(report) and "does not verify" in report.message()


def test_a_running_run_reports_its_unsigned_tail_without_failing(tmp_path: Path, key: AuditKey) -> None:
    db = tmp_path / "a.db"
    archive = open_archive(f"sqlite:///{db}")
    try:
        run = archive.create_run("live", "t", {})
        signer = Checkpointer(archive, key, every=4)
        for i in range(10):
            signer.observe(archive.add_event(run.id, "tick", {"i": i}))
        report = verify_trail(archive, [key.public])
        assert report.ok and report.runs[0].signed == 8 and report.runs[0].unsigned_tail == 2
        assert "not signed yet" in report.message()
        archive.update_run(run.id, status="stopped")  # it ended without its final checkpoint
        assert _kinds(verify_trail(archive, [key.public])) == {"unsigned"}
        assert checkpoint(archive, run.id, key) is not None
        assert verify_trail(archive, [key.public]).ok
    finally:
        archive.close()


def test_the_checkpoint_log_outside_the_archive_catches_a_cut_with_its_checkpoints(
    trail: tuple[Path, int], key: AuditKey, tmp_path: Path
) -> None:
    db, rid = trail
    log = tmp_path / "outside" / "checkpoints.jsonl"
    archive = open_archive(f"sqlite:///{db}")
    try:
        assert export_checkpoints(archive, log, [rid], []) == 3
        assert (
            export_checkpoints(archive, log, [rid], read_log(log).checkpoints) == 0
        )  # only new ones appended
    finally:
        archive.close()
    # Cut back to the checkpoint at 10, delete the later checkpoints, and say the run is still running.
    _sql(db, "DELETE FROM events WHERE run_id = ? AND seq > 10", rid)
    _sql(db, "DELETE FROM checkpoints WHERE run_id = ? AND size > 10", rid)
    _sql(db, "UPDATE runs SET status = 'running' WHERE id = ?", rid)
    assert "truncated" not in _kinds(_audit(db, key))  # the archive alone cannot tell it was cut
    report = _audit(db, key, witness=read_log(log).checkpoints)
    assert {"truncated"} <= _kinds(report) and not report.ok
    _sql(db, "DELETE FROM runs WHERE id = ?", rid)
    report = _audit(db, key, witness=read_log(log).checkpoints)
    assert any(p.kind == "witness" and "not in the archive" in p.message for p in report.problems)


def test_an_exported_log_verifies_with_the_public_key_alone(
    trail: tuple[Path, int], key: AuditKey, tmp_path: Path
) -> None:
    db, _ = trail
    out = tmp_path / "trail.jsonl"
    archive = open_archive(f"sqlite:///{db}")
    try:
        with out.open("w") as fh:
            assert export_jsonl(archive, fh).ok
    finally:
        archive.close()
    pub = tmp_path / "audit-key.pub"
    pub.write_text(key.public.pem())
    log = read_log(out)
    assert len(log.runs) == 2 and len(log.events) == 15 + 8 and len(log.checkpoints) == 3 + 2
    report = verify_log(log, [load_public_key(pub)])
    assert report.ok, report.message()
    assert len(read_jsonl(out)) == 23  # the events, as before
    # The same cases in the file: a line cut off the end of a run, an edit re-chained, a foreign key.
    lines = out.read_text().splitlines()
    cut = [ln for ln in lines if '"seq": 15' not in ln or '"run_id": 1' not in ln]
    assert len(cut) == len(lines) - 1
    out.write_text("\n".join(cut) + "\n")
    assert "truncated" in _kinds(verify_log(read_log(out), [load_public_key(pub)]))
    other = AuditKey(Ed25519PrivateKey.generate(), "other")
    assert "forged" in _kinds(verify_log(log, [other.public]))


def test_checkpoint_refuses_to_sign_a_broken_chain(trail: tuple[Path, int], key: AuditKey) -> None:
    db, rid = trail
    archive = open_archive(f"sqlite:///{db}")
    try:
        archive.add_event(rid, "late", {"x": 1})
    finally:
        archive.close()
    _sql(db, "UPDATE events SET payload = '{\"x\":2}' WHERE run_id = ? AND kind = 'late'", rid)
    archive = open_archive(f"sqlite:///{db}")
    try:
        with pytest.raises(GuardError, match="not signing the audit trail of run"):
            checkpoint(archive, rid, key)
        assert len(archive.checkpoints(rid)) == 3
    finally:
        archive.close()


def test_checkpointer_signs_every_n_events_from_many_threads(tmp_path: Path, key: AuditKey) -> None:
    archive = open_archive(f"sqlite:///{tmp_path}/a.db")
    try:
        run = archive.create_run("r", "t", {})
        signer = Checkpointer(archive, key, every=10, log=tmp_path / "log.jsonl")

        def work(t: int) -> None:
            for i in range(25):
                signer.observe(archive.add_event(run.id, "tick", {"t": t, "i": i}))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        sizes = [cp.size for cp in archive.checkpoints(run.id)]
        assert sizes and all(b - a >= 10 for a, b in zip([0, *sizes], sizes, strict=False))
        assert 100 - sizes[-1] < 10
        assert all(checkpoint_valid(cp, key.public) for cp in archive.checkpoints(run.id))
        assert [cp.size for cp in read_log(tmp_path / "log.jsonl").checkpoints] == sizes
        final = signer.close(run.id)
        assert final is not None and final.size == 100
        assert signer.close(run.id) == final  # nothing new: the same checkpoint
        with pytest.raises(GuardError, match="every 0 events"):
            Checkpointer(archive, key, every=0)
    finally:
        archive.close()


@pytest.mark.postgres
def test_postgres_trail_tampering(pg_schema_url: str, key: AuditKey) -> None:
    archive = open_archive(pg_schema_url)
    try:
        rid = _write_run(archive, key)
        assert verify_trail(archive, [key.public]).ok
    finally:
        archive.close()
    engine = sa.create_engine(pg_schema_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE candidates SET score = 0.99 WHERE run_id = :r AND iteration = 1"), {"r": rid}
            )
            rows = conn.execute(
                sa.text(
                    "SELECT id, kind, actor, payload, created_at FROM events WHERE run_id = :r ORDER BY seq"
                ),
                {"r": rid},
            ).all()
            prev = GENESIS
            for seq, (eid, kind, actor, payload, created_at) in enumerate(rows, start=1):
                doc = json.loads(payload)
                if kind == "evaluation" and doc.get("iteration") == 1:
                    doc["score"] = 0.99  # the attacker makes the event agree with the row, and re-chains
                h = event_hash(prev, rid, seq, kind, actor, doc, created_at)
                conn.execute(
                    sa.text("UPDATE events SET payload = :p, prev_hash = :ph, hash = :h WHERE id = :i"),
                    {"p": canonical_json(doc), "ph": prev, "h": h, "i": eid},
                )
                prev = h
    finally:
        engine.dispose()
    archive = open_archive(pg_schema_url)
    try:
        report = verify_trail(archive, [key.public])
    finally:
        archive.close()
    assert _kinds(report) == {"rewritten"}  # the rows agree with the forged events: the signatures do not


# -- the audit key ------------------------------------------------------------------------------------------------


def test_key_is_created_once_with_a_warning_saying_where(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert find_audit_key(env=env) is None
    with pytest.warns(AuditKeyCreated, match=str(tmp_path / "cfg" / "godel" / "audit-key.pem")):
        made = load_audit_key(env=env)
    path = tmp_path / "cfg" / "godel" / "audit-key.pem"
    assert made.created and made.source == str(path) and (path.stat().st_mode & 0o777) == 0o600
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_audit_key(env=env)
    assert again.key_id == made.key_id and not again.created
    found = find_audit_key(env=env)
    assert found is not None and found.key_id == made.key_id


def test_key_from_the_environment_or_a_named_file(tmp_path: Path, key: AuditKey) -> None:
    seed = Ed25519PrivateKey.generate()
    raw = seed.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    from_env = load_audit_key(env={KEY_ENV: base64.b64encode(raw).decode()})
    assert from_env.source == "$GODEL_AUDIT_KEY" and from_env.key_id == AuditKey(seed, "x").key_id
    pem = seed.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert load_audit_key(env={KEY_ENV: pem}).key_id == from_env.key_id
    with pytest.raises(GuardError, match=r"\$GODEL_AUDIT_KEY does not hold an Ed25519 private key"):
        load_audit_key(env={KEY_ENV: "not a key"})
    named = tmp_path / "k.pem"
    with pytest.warns(AuditKeyCreated):
        made = load_audit_key(env={KEY_FILE_ENV: str(named)})
    assert named.exists() and made.source == str(named)
    assert load_audit_key(path=named, env={}).key_id == made.key_id
    named.write_text("garbage")
    with pytest.raises(GuardError, match="does not hold an Ed25519 private key"):
        find_audit_key(path=named, env={})


def test_public_keys_load_from_pem_raw_or_a_private_key_file(tmp_path: Path, key: AuditKey) -> None:
    pem = tmp_path / "k.pub"
    pem.write_text(key.public.pem())
    assert load_public_key(pem).key_id == key.key_id
    raw = tmp_path / "k.raw"
    seed = Ed25519PrivateKey.generate()
    raw.write_text(
        base64.b64encode(
            seed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ).decode()
    )
    assert load_public_key(raw).key_id == AuditKey(seed, "x").key_id
    priv = tmp_path / "k.pem"
    priv.write_bytes(
        seed.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    assert load_public_key(priv).key_id == AuditKey(seed, "x").key_id
    bad = tmp_path / "bad.pub"
    bad.write_text("hello")
    with pytest.raises(GuardError, match="does not hold an Ed25519 public key"):
        load_public_key(bad)
    with pytest.raises(GuardError, match="cannot read the public key"):
        load_public_key(tmp_path / "missing.pub")
