"""The audit chain: verify detects an edited, deleted, inserted or reordered record and names the first bad one."""

from __future__ import annotations

import dataclasses
import io
import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from godel.archive import GENESIS, Archive, Event, event_hash, open_archive
from godel.guard import export_jsonl, read_jsonl, verify_archive, verify_chain


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
