"""``godel report``: one self-contained HTML file summarising a run (inline CSS and SVG, no script, no link).

Score curve, best program and its diff from the seed, the best candidate's line of descent, the lineage tree (the
best candidates' subtree on large runs), flags, failures, tokens and cost per model. Everything is redacted.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from godel import __version__ as godel_version
from godel.archive import Archive, RunInfo
from godel.candidate import Candidate, Status, unified_diff
from godel.dashboard._data import ArchiveView
from godel.redact import redact
from godel.telemetry import TelemetryError

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 1.5em;color:#1c1c1c;font-size:14px}
h1{font-size:1.5em;margin-bottom:.1em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.muted{color:#666}.cards{display:flex;flex-wrap:wrap;gap:.6em}.card{border:1px solid #ddd;border-radius:6px;
padding:.4em .8em;min-width:110px}.card b{display:block;font-size:1.25em}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.2em .5em;border-bottom:1px solid #eee;vertical-align:top}
pre{background:#f5f5f5;padding:.6em;overflow:auto;font-size:12px;line-height:1.35;max-height:600px}
.add{color:#1b5e20;background:#e8f5e9;display:block}.del{color:#b71c1c;background:#ffebee;display:block}
.hunk{color:#1565c0;display:block}.ctx{display:block}svg{max-width:100%;height:auto}
.ok{fill:#2e7d32}.failed{fill:#c62828}.rejected{fill:#ef6c00}.awaiting_approval{fill:#6a1b9a}.pending{fill:#9e9e9e}
.flagged{stroke:#f9a825;stroke-width:3}.best{stroke:#000;stroke-width:2.5}
"""


def _e(x: object) -> str:
    return html.escape(redact(str(x)), quote=True)


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.6g}"


def _diff_html(diff: str) -> str:
    lines = []
    for line in diff.splitlines():
        cls = "ctx"
        if line.startswith(("+++", "---", "@@")):
            cls = "hunk"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        lines.append(f'<span class="{cls}">{_e(line) or " "}</span>')
    return "<pre>" + "".join(lines) + "</pre>" if lines else "<p class=muted>no change</p>"


def _score_svg(scores: dict[str, Any]) -> str:
    pts = [p for p in scores["points"] if isinstance(p[1], int | float)]
    if not pts:
        return "<p class=muted>no scored candidate</p>"
    w, h, left, right, top, bottom = 800, 280, 60, 10, 10, 30
    xmax = float(max(1, scores["last_iteration"]))
    # The range follows unflagged scores; a flagged outlier (often the hack itself) is pinned to the edge.
    ranged = [p for p in pts if not p[3]] or pts
    ymin, ymax = float(min(p[1] for p in ranged)), float(max(p[1] for p in ranged))
    if ymin == ymax:
        ymin, ymax = ymin - 1, ymax + 1

    def sx(x: float) -> float:
        return left + (w - left - right) * x / xmax

    def sy(y: float) -> float:
        return top + (h - top - bottom) * (1 - (min(ymax, max(ymin, y)) - ymin) / (ymax - ymin))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="score curve">',
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#999"/>',
        f'<text x="2" y="{top + 4}" font-size="11" fill="#666">{_num(ymax)}</text>',
        f'<text x="2" y="{h - bottom}" font-size="11" fill="#666">{_num(ymin)}</text>',
        f'<text x="{w - 110}" y="{h - 8}" font-size="11" fill="#666">iteration {xmax}</text>',
    ]
    for p in pts:
        fill = "#f9a825" if p[3] else "#90caf9"
        parts.append(f'<circle cx="{sx(p[0]):.1f}" cy="{sy(p[1]):.1f}" r="2" fill="{fill}"/>')
    if scores["best"]:
        d = ""
        for i, (x, y, _cid) in enumerate(scores["best"]):
            d += f" H{sx(x):.1f} V{sy(y):.1f}" if i else f"M{sx(x):.1f} {sy(y):.1f}"
        d += f" H{sx(xmax):.1f}"
        parts.append(f'<path d="{d}" stroke="#1565c0" stroke-width="2" fill="none"/>')
    parts.append("</svg>")
    return "".join(parts)


def _tree_svg(nodes: list[dict[str, Any]], best_id: int | None) -> str:
    by_id = {n["id"]: n for n in nodes}
    kids: dict[int, list[dict[str, Any]]] = {}
    roots = []
    for n in nodes:
        if n["parent_id"] is not None and n["parent_id"] in by_id:
            kids.setdefault(n["parent_id"], []).append(n)
        else:
            roots.append(n)
    pos: dict[int, tuple[float, int]] = {}
    nxt = 0
    max_depth = 0
    for root in roots:
        stack: list[tuple[dict[str, Any], int, bool]] = [(root, 0, False)]
        while stack:
            n, depth, done = stack.pop()
            ch = kids.get(n["id"], [])
            if not done and ch:
                stack.append((n, depth, True))
                stack.extend((c, depth + 1, False) for c in reversed(ch))
                continue
            max_depth = max(max_depth, depth)
            if ch:
                x = (pos[ch[0]["id"]][0] + pos[ch[-1]["id"]][0]) / 2
            else:
                x, nxt = float(nxt), nxt + 1
            pos[n["id"]] = (x, depth)
    dx, dy, pad = 14, 40, 12
    w, h = max(nxt, 1) * dx + 2 * pad, (max_depth + 1) * dy + 2 * pad
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">']
    path = []
    for n in nodes:
        p = n["parent_id"]
        if p is not None and p in by_id:
            (x1, d1), (x2, d2) = pos[p], pos[n["id"]]
            path.append(f"M{pad + x1 * dx:.1f} {pad + d1 * dy}L{pad + x2 * dx:.1f} {pad + d2 * dy}")
    out.append(f'<path d="{"".join(path)}" stroke="#bbb" fill="none"/>')
    for n in nodes:
        x, d = pos[n["id"]]
        cls = n["status"] + (" flagged" if n["flagged"] else "") + (" best" if n["id"] == best_id else "")
        out.append(
            f'<circle cx="{pad + x * dx:.1f}" cy="{pad + d * dy}" r="{7 if n["id"] == best_id else 5}" '
            f'class="{_e(cls)}"><title>#{n["id"]} it{n["iteration"]} {_e(n["status"])} '
            f"score {_e(n['score'])}</title></circle>"
        )
    out.append("</svg>")
    return "".join(out)


def render_report(archive: Archive, run: RunInfo, *, lineage_limit: int = 600) -> str:
    """The report of ``run`` as one HTML document."""
    view = ArchiveView(archive)
    summary = view.summary(run.id)
    totals = view.totals(run.id)
    scores = view.scores(run.id, max_points=3000)
    lineage = view.lineage(run.id, limit=lineage_limit)
    snap = view.snapshot(run.id)
    best = archive.best(run.id)
    seed_row = next((r for r in snap.rows if r.iteration == 0), None)
    seed = archive.get_candidate(seed_row.id) if seed_row is not None else None
    counts = summary["counts"]
    improvement = (
        best.score - seed.score
        if best is not None and seed is not None and best.score is not None and seed.score is not None
        else None
    )
    cards = [
        ("candidates", summary["total"]),
        ("ok", counts["ok"]),
        ("failed", counts["failed"]),
        ("rejected", counts["rejected"]),
        ("awaiting approval", counts["awaiting_approval"]),
        ("flagged", summary["flagged"]),
        ("seed score", _num(seed.score if seed else None)),
        ("best score", _num(best.score if best else None)),
        ("improvement", _num(improvement)),
        ("tokens", totals.tokens_in + totals.tokens_out),
        ("cost", f"${totals.cost:.4f}"),
    ]
    h: list[str] = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>godel report: {_e(run.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Run {_e(run.name)}</h1>",
        f"<p class=muted>task {_e(run.task)} · run #{run.id} · status {_e(run.status)} · archive {_e(archive.url)} · "
        f"generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by godel {_e(godel_version)}</p>",
        '<div class="cards">'
        + "".join(f'<div class="card"><span class=muted>{_e(k)}</span><b>{_e(v)}</b></div>' for k, v in cards)
        + "</div>",
        "<h2>Score over iterations</h2>",
        _score_svg(scores),
        "<p class=muted>dots: scored candidates (orange: flagged); line: best unflagged score so far.</p>",
    ]
    h.append("<h2>Best program</h2>")
    if best is None:
        h.append("<p class=muted>no successfully evaluated, unflagged candidate.</p>")
    else:
        h.append(
            f"<p>candidate #{best.id}, iteration {best.iteration}, generation {best.generation}, score "
            f"{_e(_num(best.score))}, proposer {_e(best.proposer)}{' / ' + _e(best.model) if best.model else ''}</p>"
        )
        if best.metrics:
            h.append(
                "<table><tr><th>metric</th><th>value</th></tr>"
                + "".join(f"<tr><td>{_e(k)}</td><td>{_e(_num(v))}</td></tr>" for k, v in best.metrics.items())
                + "</table>"
            )
        h.append("<h2>Diff from the seed</h2>")
        h.append(_diff_html(unified_diff(seed.program, best.program) if seed is not None else ""))
        for path, text in best.program.files.items():
            h.append(f"<details><summary>code: {_e(path)}</summary><pre>{_e(text)}</pre></details>")
        h.append(
            "<h2>Line of descent</h2><table><tr><th>id</th><th>iteration</th><th>proposer</th><th>score</th></tr>"
        )
        for c in archive.lineage(best.id or 0):
            h.append(
                f"<tr><td>#{c.id}</td><td>{c.iteration}</td><td>{_e(c.proposer)}</td><td>{_e(_num(c.score))}</td></tr>"
            )
        h.append("</table>")
    note = (
        f"all {lineage['shown']} candidates"
        if lineage["mode"] == "full"
        else f"{lineage['shown']} of {lineage['total']} candidates: the best ones' subtree and the review queue"
    )
    h.append(
        f"<h2>Lineage</h2><p class=muted>{_e(note)}; green ok, red failed, orange rejected, purple awaiting "
        "approval, yellow ring flagged, black ring best.</p>"
    )
    h.append(_tree_svg(lineage["nodes"], best.id if best else None))
    h.append(
        "<table><tr><th>generation</th><th>candidates</th><th>ok</th><th>failed</th><th>rejected</th><th>best</th></tr>"
        + "".join(
            f"<tr><td>{g['generation']}</td><td>{g['count']}</td><td>{g.get('ok', 0)}</td><td>{g.get('failed', 0)}"
            f"</td><td>{g.get('rejected', 0)}</td><td>{_e(_num(g['best']) if isinstance(g['best'], float) else g['best'] or '—')}</td></tr>"
            for g in lineage["generations"][:200]
        )
        + "</table>"
    )
    flagged = [r for r in snap.rows if r.flagged or r.status == Status.AWAITING_APPROVAL]
    h.append(f"<h2>Flags and review queue ({len(flagged)})</h2>")
    if flagged:
        h.append("<table><tr><th>id</th><th>status</th><th>score</th><th>flags / reason</th></tr>")
        for r in flagged[:200]:
            c = archive.get_candidate(r.id)
            h.append(
                f"<tr><td>#{c.id}</td><td>{_e(c.status.value)}</td><td>{_e(_num(c.score))}</td>"
                f"<td>{_e('; '.join(c.flags) or c.reason or '')}</td></tr>"
            )
        h.append("</table>")
    else:
        h.append("<p class=muted>none.</p>")
    h.append("<h2>Failures</h2>")
    reasons: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    for c in _iter_failed(archive, run.id):
        stages[c.failure_stage or "unknown"] += 1
        reasons[(c.reason or "no reason").splitlines()[0][:160]] += 1
    if stages:
        h.append(
            "<p>"
            + ", ".join(f"{_e(s)}: {n}" for s, n in stages.most_common())
            + "</p><table><tr><th>count</th><th>most frequent reasons</th></tr>"
            + "".join(f"<tr><td>{n}</td><td>{_e(r)}</td></tr>" for r, n in reasons.most_common(10))
            + "</table>"
        )
    else:
        h.append("<p class=muted>none.</p>")
    h.append("<h2>Tokens and cost</h2>")
    if totals.by_model:
        h.append(
            "<table><tr><th>model</th><th>calls</th><th>tokens in</th><th>tokens out</th><th>cost</th></tr>"
        )
        for model, m in sorted(totals.by_model.items()):
            h.append(
                f"<tr><td>{_e(model)}</td><td>{int(m['calls'])}</td><td>{int(m['tokens_in'])}</td>"
                f"<td>{int(m['tokens_out'])}</td><td>${m['cost']:.4f}</td></tr>"
            )
        h.append("</table>")
    h.append(
        f"<p>total: {totals.tokens_in} tokens in, {totals.tokens_out} tokens out, ${totals.cost:.4f} "
        "(local mutations use no model).</p></body></html>"
    )
    return "\n".join(h)


def _iter_failed(archive: Archive, run_id: int) -> Iterator[Candidate]:
    offset = 0
    while True:
        page = archive.candidates(run_id, status=[Status.FAILED, Status.REJECTED], limit=1000, offset=offset)
        yield from page
        if len(page) < 1000:
            return
        offset += len(page)


def write_report(archive: Archive, run: RunInfo, out: Path) -> Path:
    text = render_report(archive, run)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise TelemetryError(
            f"cannot write the report to {out}: {exc.strerror or exc}", hint="pick another --out"
        ) from exc
    return out
