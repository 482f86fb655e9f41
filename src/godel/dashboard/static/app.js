// godel dashboard: plain JS, no dependencies. Every value from the API is inserted as text (never as HTML).
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const state = { config: null, run: null, version: null, selected: null, bestId: null, candOffset: 0, failures: 0, timer: null };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
function fmt(x) {
  if (x === null || x === undefined) return "—";
  if (typeof x === "number") return Number.isInteger(x) ? String(x) : x.toPrecision(6).replace(/\.?0+$/, "");
  return String(x);
}
function showMessage(text) {
  const m = document.getElementById("message");
  m.textContent = text || ""; m.hidden = !text;
}
async function api(path, options) {
  const r = await fetch(path, options);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && (body.error || body.detail) ? (body.error || body.detail) : r.status + " " + r.statusText;
    const err = new Error(msg); err.status = r.status; throw err;
  }
  return body;
}

// -- summary --------------------------------------------------------------------------------------------------
function renderSummary(s) {
  const box = document.getElementById("summary");
  const c = s.counts;
  const cards = [
    ["candidates", s.total], ["ok", c.ok], ["failed", c.failed], ["rejected", c.rejected],
    ["awaiting approval", c.awaiting_approval], ["pending", c.pending], ["flagged", s.flagged],
    ["best score", s.best ? s.best.score : null], ["seed score", s.seed ? s.seed.score : null],
    ["generations", s.generations],
    ["tokens", (s.tokens_in + s.tokens_out) + (s.tokens_complete ? "" : " …")],
    ["cost", "$" + s.cost.toFixed(4) + (s.tokens_complete ? "" : " …")],
  ];
  box.replaceChildren(...cards.map(([k, v]) => el("div", { class: "card", "data-card": k }, el("span", { class: "muted", text: k }), el("b", { text: fmt(v) }))));
  const st = document.getElementById("run-status");
  st.textContent = s.run.status + " · " + s.run.task;
  state.bestId = s.best ? s.best.id : null;
}

// -- score chart ----------------------------------------------------------------------------------------------
function renderScores(d) {
  const box = document.getElementById("score-chart");
  document.getElementById("score-note").textContent = d.ok + " scored" + (d.sampled ? " (down-sampled)" : "");
  const pts = d.points.filter(p => typeof p[1] === "number");
  if (!pts.length) { box.replaceChildren(el("p", { class: "muted", text: "no scored candidate yet" })); return; }
  const W = 600, H = 260, L = 56, R = 10, T = 10, B = 28;
  let xmax = Math.max(1, d.last_iteration), ymin = Infinity, ymax = -Infinity;
  // The range follows unflagged scores: a flagged outlier (often the hack itself) is pinned to the edge instead.
  const ranged = pts.some(p => !p[3]) ? pts.filter(p => !p[3]) : pts;
  for (const p of ranged) { ymin = Math.min(ymin, p[1]); ymax = Math.max(ymax, p[1]); }
  if (ymin === ymax) { ymin -= 1; ymax += 1; }
  const X = x => L + (W - L - R) * x / xmax, Y = y => T + (H - T - B) * (1 - (Math.min(ymax, Math.max(ymin, y)) - ymin) / (ymax - ymin));
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "score over iterations", preserveAspectRatio: "none" });
  s.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }), svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }));
  for (const [v, y] of [[ymax, T + 4], [ymin, H - B]]) { const t = svg("text", { x: 2, y, "font-size": 10, fill: "#666" }); t.textContent = fmt(v); s.append(t); }
  const tx = svg("text", { x: W - R - 60, y: H - 8, "font-size": 10, fill: "#666" }); tx.textContent = "iteration " + xmax; s.append(tx);
  const dots = svg("g", { fill: "#90caf9" });
  for (const p of pts) { const c = svg("circle", { cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: 2 }); if (p[3]) c.setAttribute("fill", "#f9a825"); dots.append(c); }
  s.append(dots);
  if (d.best.length) {
    let path = "";
    d.best.forEach((b, i) => { path += (i ? ` H${X(b[0]).toFixed(1)} V${Y(b[1]).toFixed(1)}` : `M${X(b[0]).toFixed(1)} ${Y(b[1]).toFixed(1)}`); });
    path += ` H${X(xmax).toFixed(1)}`;
    s.append(svg("path", { d: path, stroke: "#1565c0", "stroke-width": 2, fill: "none", class: "best-line" }));
  }
  box.replaceChildren(s);
}

// -- lineage tree ---------------------------------------------------------------------------------------------
function layoutTree(nodes) {
  const byId = new Map(nodes.map(n => [n.id, n])), kids = new Map(), roots = [];
  for (const n of nodes) {
    if (n.parent_id !== null && byId.has(n.parent_id)) { if (!kids.has(n.parent_id)) kids.set(n.parent_id, []); kids.get(n.parent_id).push(n); }
    else roots.push(n);
  }
  const pos = new Map(); let next = 0, maxDepth = 0;
  // Iterative post-order: leaves take consecutive columns, a parent sits over the middle of its children.
  for (const root of roots) {
    const stack = [[root, 0, false]];
    while (stack.length) {
      const [n, depth, done] = stack.pop();
      const ch = kids.get(n.id) || [];
      if (!done && ch.length) { stack.push([n, depth, true]); for (let i = ch.length - 1; i >= 0; i--) stack.push([ch[i], depth + 1, false]); continue; }
      maxDepth = Math.max(maxDepth, depth);
      const x = ch.length ? (pos.get(ch[0].id).x + pos.get(ch[ch.length - 1].id).x) / 2 : next++;
      pos.set(n.id, { x, depth });
    }
  }
  return { pos, columns: Math.max(next, 1), maxDepth };
}
function renderLineage(d) {
  const box = document.getElementById("lineage");
  document.getElementById("lineage-note").textContent = d.mode === "full"
    ? `${d.shown} candidates` : `${d.shown} of ${d.total} shown: the best candidates' subtree and the review queue (aggregate per generation below)`;
  const { pos, columns, maxDepth } = layoutTree(d.nodes);
  const dx = 16, dy = 44, pad = 14;
  const W = Math.max(box.clientWidth - 4, columns * dx + 2 * pad), H = (maxDepth + 1) * dy + 2 * pad;
  const X = n => pad + pos.get(n.id).x * dx + (W - columns * dx - 2 * pad) / 2, Y = n => pad + pos.get(n.id).depth * dy;
  const s = svg("svg", { width: W, height: H, role: "img", "aria-label": "lineage tree" });
  const byId = new Map(d.nodes.map(n => [n.id, n]));
  let path = "";
  for (const n of d.nodes) if (n.parent_id !== null && byId.has(n.parent_id)) {
    const p = byId.get(n.parent_id);
    path += `M${X(p).toFixed(1)} ${Y(p).toFixed(1)}L${X(n).toFixed(1)} ${Y(n).toFixed(1)}`;
  }
  s.append(svg("path", { d: path, class: "edges" }));
  const g = svg("g", {});
  for (const n of d.nodes) {
    let cls = "node " + n.status + (n.flagged ? " flagged" : "") + (n.id === state.bestId ? " best" : "") + (n.id === state.selected ? " selected" : "");
    const c = svg("circle", { cx: X(n).toFixed(1), cy: Y(n).toFixed(1), r: n.id === state.bestId ? 7 : 5, class: cls, "data-id": n.id, tabindex: 0 });
    const t = svg("title", {}); t.textContent = `#${n.id} it${n.iteration} ${n.status} score ${fmt(n.score)}` + (n.children ? ` · ${n.children} children` : "");
    c.append(t); g.append(c);
  }
  g.addEventListener("click", ev => { const id = ev.target.closest("circle")?.getAttribute("data-id"); if (id) selectCandidate(Number(id)); });
  g.addEventListener("keydown", ev => { if (ev.key === "Enter") { const id = ev.target.getAttribute("data-id"); if (id) selectCandidate(Number(id)); } });
  s.append(g);
  box.replaceChildren(s);
  const gens = document.getElementById("generations");
  gens.textContent = "per generation: " + d.generations.map(x => `g${x.generation}: ${x.count} (${x.ok || 0} ok, best ${fmt(x.best)})`).join(" · ");
}

// -- candidate detail -----------------------------------------------------------------------------------------
function diffPre(text) {
  const pre = el("pre", { class: "diff" });
  for (const line of (text || "").split("\n")) {
    const cls = line.startsWith("+++") || line.startsWith("---") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "ctx";
    pre.append(el("span", { class: cls, text: line || " " }));
  }
  return pre;
}
function kv(obj) {
  const dl = el("dl", { class: "kv" });
  for (const [k, v] of Object.entries(obj)) dl.append(el("dt", { text: k }), el("dd", { text: typeof v === "object" && v !== null ? JSON.stringify(v) : fmt(v) }));
  return dl;
}
async function selectCandidate(id) {
  state.selected = id;
  document.querySelectorAll("circle.node.selected").forEach(c => c.classList.remove("selected"));
  document.querySelector(`circle.node[data-id="${id}"]`)?.classList.add("selected");
  const panel = document.getElementById("detail-panel"), box = document.getElementById("detail");
  let c;
  try { c = await api(`/api/candidates/${id}`); } catch (e) { showMessage(e.message); return; }
  panel.hidden = false;
  document.getElementById("detail-title").textContent = `Candidate #${c.id} (iteration ${c.iteration}, generation ${c.generation})`;
  const parts = [kv({ status: c.status, score: c.score, parent: c.parent_id, proposer: c.proposer, model: c.model, reason: c.reason, failure_stage: c.failure_stage, flags: c.flags.length ? c.flags.join("; ") : "none", tokens: c.tokens_in + c.tokens_out, children: c.children })];
  parts.push(el("h3", { text: c.parent_id === null ? "Diff (seed program: no parent)" : `Diff against parent #${c.parent_id}` }), diffPre(c.diff || "(no change)"));
  if (Object.keys(c.metrics).length) parts.push(el("h3", { text: "Metrics" }), kv(c.metrics));
  if (Object.keys(c.verdict).length) parts.push(el("h3", { text: "Verdict" }), el("pre", { class: "verdict", text: JSON.stringify(c.verdict, null, 2) }));
  const stages = (c.evaluation && c.evaluation.stages) || [];
  if (stages.length) {
    const t = el("table", {}, el("thead", {}, el("tr", {}, ...["stage", "status", "seconds", "reason"].map(h => el("th", { text: h })))));
    const tb = el("tbody");
    for (const st of stages) tb.append(el("tr", {}, el("td", { text: st.name }), el("td", { text: st.status }), el("td", { text: fmt(st.seconds) }), el("td", { text: st.reason || "" })));
    t.append(tb); parts.push(el("h3", { text: "Evaluation" }), t);
    const errs = stages.map(st => st.sandbox && st.sandbox.stderr).filter(Boolean).join("\n");
    if (errs) parts.push(el("h3", { text: "Errors (stderr)" }), el("pre", { text: errs }));
  }
  for (const [path, text] of Object.entries(c.files)) parts.push(el("h3", { text: "Code: " + path }), el("pre", { class: "code", text }));
  box.replaceChildren(...parts);
}

// -- review queue ---------------------------------------------------------------------------------------------
async function decide(id, action) {
  const token = document.getElementById("token").value;
  const headers = { "Content-Type": "application/json" };
  headers[state.config.token_header] = token;
  let body = "{}";
  if (action === "reject") { const why = window.prompt("Why reject candidate " + id + "?", "rejected in review"); if (!why) return; body = JSON.stringify({ why }); }
  try { await api(`/api/candidates/${id}/${action}`, { method: "POST", headers, body }); showMessage(""); state.version = null; await refresh(); }
  catch (e) { showMessage(`${action} #${id} refused: ${e.message}`); }
}
function renderReview(d) {
  document.getElementById("review-count").textContent = d.total ? `${d.total} waiting` : "empty";
  const tb = document.querySelector("#review tbody");
  tb.replaceChildren(...d.items.map(it => {
    const actions = el("td");
    if (state.config.allow_approve) {
      const a = el("button", { type: "button", class: "approve", "data-id": it.id, text: "approve" });
      const r = el("button", { type: "button", class: "reject", "data-id": it.id, text: "reject" });
      a.addEventListener("click", () => decide(it.id, "approve")); r.addEventListener("click", () => decide(it.id, "reject"));
      actions.append(a, " ", r);
    }
    const tr = el("tr", { class: "clickable", "data-id": it.id }, el("td", { text: "#" + it.id }), el("td", { text: it.kind }), el("td", { text: fmt(it.score) }),
      el("td", { text: (it.flags.length ? it.flags.join("; ") : it.reason) || "" }), actions);
    tr.addEventListener("click", ev => { if (ev.target.tagName !== "BUTTON") selectCandidate(it.id); });
    return tr;
  }));
}

// -- candidates table and events ------------------------------------------------------------------------------
async function loadCandidates() {
  const sort = document.getElementById("cand-sort").value, status = document.getElementById("cand-status").value;
  const d = await api(`/api/runs/${state.run}/candidates?limit=20&offset=${state.candOffset}&sort=${sort}` + (status ? `&status=${status}` : ""));
  document.getElementById("cand-note").textContent = d.total ? `${d.offset + 1}–${d.offset + d.items.length} of ${d.total}` : "none";
  const tb = document.querySelector("#candidates tbody");
  tb.replaceChildren(...d.items.map(r => {
    const tr = el("tr", { class: "clickable", "data-id": r.id }, el("td", { text: "#" + r.id }), el("td", { text: r.iteration }), el("td", { text: r.generation }),
      el("td", { text: r.parent_id === null ? "—" : "#" + r.parent_id }), el("td", { class: "status-" + r.status, text: r.status + (r.flagged ? " ⚑" : "") }), el("td", { text: fmt(r.score) }));
    tr.addEventListener("click", () => selectCandidate(r.id));
    return tr;
  }));
  state.candTotal = d.total;
}
async function loadEvents(lastSeq) {
  const d = await api(`/api/runs/${state.run}/events?since=${Math.max(0, lastSeq - 50)}&limit=50`);
  const ol = document.getElementById("events");
  ol.replaceChildren(...d.items.reverse().map(e => {
    const li = el("li", { value: e.seq, text: `${new Date(e.created_at * 1000).toLocaleTimeString()} ${e.kind} ${JSON.stringify(e.payload).slice(0, 160)}` });
    return li;
  }));
}

// -- refresh loop ---------------------------------------------------------------------------------------------
async function refresh() {
  if (state.run === null) return;
  const live = document.getElementById("live");
  try {
    const s = await api(`/api/runs/${state.run}/summary`);
    renderSummary(s);
    if (s.version !== state.version) {
      state.version = s.version;
      const [scores, lineage, review] = await Promise.all([
        api(`/api/runs/${state.run}/scores`), api(`/api/runs/${state.run}/lineage`), api(`/api/runs/${state.run}/review`)]);
      renderScores(scores); renderLineage(lineage); renderReview(review);
      await loadCandidates();
      await loadEvents(s.last_event ? s.last_event.seq : 0);
      document.body.dataset.version = s.version;
    }
    // "live" only while the run is running: a finished or stopped run says so instead.
    const running = s.run.status === "running";
    state.failures = 0; live.classList.remove("stale"); live.classList.toggle("ended", !running);
    live.textContent = running ? "live" : s.run.status;
    live.title = running ? "polling the archive" : "the run is " + s.run.status + "; the page still polls the archive";
    if (document.getElementById("message").textContent.startsWith("cannot reach")) showMessage("");
  } catch (e) {
    state.failures++; live.classList.add("stale"); live.textContent = "stale";
    showMessage("cannot reach the dashboard server: " + e.message);
  }
}
async function loadRuns() {
  const d = await api("/api/runs");
  const sel = document.getElementById("run-select");
  sel.replaceChildren(...d.items.map(r => el("option", { value: r.id, text: `${r.name} (#${r.id}, ${r.candidates})` })));
  const wanted = new URLSearchParams(location.search).get("run");
  if (wanted && d.items.some(r => String(r.id) === wanted || r.name === wanted)) {
    state.run = d.items.find(r => String(r.id) === wanted || r.name === wanted).id;
  } else if (state.run === null && d.items.length) state.run = d.items[0].id;
  if (state.run !== null) sel.value = String(state.run);
  if (!d.items.length) showMessage("this archive holds no runs yet; the page refreshes when one starts");
}
async function main() {
  state.config = await api("/api/config");
  document.getElementById("approve-box").hidden = !state.config.allow_approve;
  document.getElementById("mode").textContent = state.config.allow_approve ? "approvals enabled" : "read-only";
  const tokenInput = document.getElementById("token");
  tokenInput.value = sessionStorage.getItem("godel-token") || "";
  tokenInput.addEventListener("change", () => sessionStorage.setItem("godel-token", tokenInput.value));
  await loadRuns();
  document.getElementById("run-select").addEventListener("change", ev => {
    state.run = Number(ev.target.value); state.version = null; state.selected = null; state.candOffset = 0;
    document.getElementById("detail-panel").hidden = true; refresh();
  });
  document.getElementById("cand-sort").addEventListener("change", () => { state.candOffset = 0; loadCandidates(); });
  document.getElementById("cand-status").addEventListener("change", () => { state.candOffset = 0; loadCandidates(); });
  document.getElementById("cand-prev").addEventListener("click", () => { state.candOffset = Math.max(0, state.candOffset - 20); loadCandidates(); });
  document.getElementById("cand-next").addEventListener("click", () => { if (state.candOffset + 20 < (state.candTotal || 0)) { state.candOffset += 20; loadCandidates(); } });
  await refresh();
  document.body.dataset.ready = "1";
  state.timer = setInterval(async () => { if (state.run === null) await loadRuns(); await refresh(); }, state.config.refresh_seconds * 1000);
}
main().catch(e => showMessage("dashboard failed to start: " + e.message));
