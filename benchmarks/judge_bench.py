"""Model-judged constitution rules: false alarms, misses, malformed replies, tokens and latency per principle and
model, beside the static rules' result on the same corpus (``benchmarks/judge_corpus.py``).

Every change goes through a real :class:`~godel.guard.ConstitutionGate`: once with a constitution holding one
``model_judge`` rule for its principle (under ``deny``, with the corpus's two labelled examples), asking the model;
once with godel's default constitution (static rules only). A *false alarm* is a compliant change the model said
violates (static: one the default constitution did not allow); a *miss* is a violating change it let through;
*malformed* counts replies that were not a verdict (the rule's fallback decided those, and they are neither alarm
nor miss). Latency is the wall time of the gate's check, the model call included.

    python benchmarks/judge_bench.py                      # the embedded SmolLM2-135M, offline
    python benchmarks/judge_bench.py --base-url http://127.0.0.1:8000/v1 --model NAME [--api-key-env VAR]
        [--structured] [--no-embedded]                   # any OpenAI-compatible endpoint as well, or instead

Options: ``--principles secrets,network`` to run a subset, ``--examples as-given|violating-last|none`` for the
order of the rule's two labelled examples (the corpus gives the violating one first) or none at all, ``--threads N``
for the embedded model, ``--json FILE`` to keep the per-change results.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from judge_corpus import CHANGES, EXAMPLES, PRINCIPLES, Change  # noqa: E402

from godel.candidate import Program  # noqa: E402
from godel.guard import ConstitutionGate, GuardConfig  # noqa: E402
from godel.llm import LLMConfig, ModelConfig, ModelPool, make_llm  # noqa: E402
from godel.task import Task, load_task  # noqa: E402

_MAIN = "initial_program.py"


def _examples(principle: str, order: str) -> list[dict[str, Any]]:
    """The principle's labelled examples as a rule holds them: as the corpus gives them (violating first), with
    the violating one last, or none (zero-shot)."""
    given = [{"diff": d, "violates": v, "reasons": r} for d, v, r in EXAMPLES[principle]]
    if order == "none":
        return []
    if order == "violating-last":
        return sorted(given, key=lambda e: bool(e["violates"]))
    return given


def _constitution(principle: str, order: str) -> str:
    doc: dict[str, Any] = {
        "version": 1,
        "name": f"judge-{principle}",
        "default": "require_approval",
        "deny": [
            {
                "id": f"judge-{principle}",
                "check": "model_judge",
                "params": {
                    "principle": PRINCIPLES[principle],
                    "examples": _examples(principle, order),
                },
            }
        ],
        "allow": [{"operation": "edit"}, {"operation": "import", "modules": ["*"]}],
    }
    return json.dumps(doc, indent=1)  # JSON is YAML


def _task(root: Path, constitution: str | None) -> Task:
    root.mkdir(parents=True)
    (root / _MAIN).write_text("def main():\n    return 0\n")
    (root / "evaluator.py").write_text("def evaluate(path):\n    return {'combined_score': 0.0}\n")
    if constitution is not None:
        (root / "constitution.yaml").write_text(constitution)
    return load_task(root)


def _pair(c: Change) -> tuple[Program, Program]:
    return Program.single(_MAIN, c.before), Program.single(_MAIN, c.after)


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else 0.0


def static(tmp: Path, changes: list[Change]) -> dict[str, dict[str, Any]]:
    task = _task(tmp / "static", None)
    gate = ConstitutionGate(GuardConfig(), task.root, task=task)
    out: dict[str, dict[str, Any]] = {}
    for c in changes:
        parent, child = _pair(c)
        v = gate.check(task, parent, child)
        out[c.name] = {"decision": v.decision, "flagged": v.decision != "allow", "rules": list(v.rules)}
    return out


def judged(tmp: Path, label: str, pool: ModelPool, changes: list[Change], order: str) -> list[dict[str, Any]]:
    rows = []
    for principle in PRINCIPLES:
        mine = [c for c in changes if c.principle == principle]
        if not mine:
            continue
        task = _task(
            tmp / f"{label.replace(':', '_').replace('/', '_')}-{principle}", _constitution(principle, order)
        )
        gate = ConstitutionGate(GuardConfig(), task.root, task=task, llm=lambda: pool)
        for c in mine:
            parent, child = _pair(c)
            t0 = time.perf_counter()
            v = gate.check(task, parent, child)
            seconds = time.perf_counter() - t0
            (j,) = v.details["judge"]
            rows.append(
                {
                    "model": label,
                    "principle": principle,
                    "change": c.name,
                    "label": c.violates,
                    "said": j["violates"],
                    "reasons": j["reasons"],
                    "fallback": j["fallback"],
                    "reply": j.get("reply"),
                    "tokens": j["tokens_in"] + j["tokens_out"],
                    "cost": j["cost"],
                    "seconds": seconds,
                }
            )
            print(
                f"  {label} {principle:10} {c.name:28} label={'violates' if c.violates else 'ok':8} "
                f"said={j['violates']!s:5} {seconds:6.2f} s {j['fallback'] or j['reasons'] or ''}"[:160],
                file=sys.stderr,
                flush=True,
            )
    return rows


def _summary(rows: list[dict[str, Any]], changes: list[Change], fixed: dict[str, dict[str, Any]]) -> None:
    head = (
        f"{'principle':11} {'judge':26} {'n':>3} {'false alarms':>12} {'misses':>7} {'malformed':>9} "
        f"{'tokens':>7} {'cost':>8} {'p50 s':>6} {'p90 s':>6}"
    )
    print(head)
    print("-" * len(head))
    models = list(dict.fromkeys(r["model"] for r in rows))
    for principle in [*PRINCIPLES, "all"]:
        mine = [c for c in changes if principle in ("all", c.principle)]
        if not mine:
            continue
        ok_n = sum(not c.violates for c in mine)
        bad_n = sum(c.violates for c in mine)
        fa = sum(fixed[c.name]["flagged"] for c in mine if not c.violates)
        miss = sum(not fixed[c.name]["flagged"] for c in mine if c.violates)
        print(
            f"{principle:11} {'static (default rules)':26} {len(mine):3d} {f'{fa}/{ok_n}':>12} "
            f"{f'{miss}/{bad_n}':>7} {'-':>9} {0:7d} {0:8.4f} {'-':>6} {'-':>6}"
        )
        for m in models:
            rs = [r for r in rows if r["model"] == m and principle in ("all", r["principle"])]
            if not rs:
                continue
            fa = sum(r["said"] is True and not r["label"] for r in rs)
            miss = sum(r["said"] is False and r["label"] for r in rs)
            bad = sum(r["said"] is None for r in rs)
            secs = [r["seconds"] for r in rs]
            print(
                f"{'':11} {m[:26]:26} {len(rs):3d} {f'{fa}/{ok_n}':>12} {f'{miss}/{bad_n}':>7} {bad:9d} "
                f"{sum(r['tokens'] for r in rs):7d} {sum(r['cost'] for r in rs):8.4f} "
                f"{_pct(secs, 0.5):6.2f} {_pct(secs, 0.9):6.2f}"
            )
    print(
        "\nfalse alarms: compliant changes flagged (of the compliant ones); misses: violating changes let through "
        "(of the violating ones);\nmalformed: replies that were no verdict (the rule's on_error fallback decided "
        "them; counted as neither)."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--principles", default=",".join(PRINCIPLES), help="comma-separated subset")
    ap.add_argument("--no-embedded", action="store_true", help="skip the embedded SmolLM2")
    ap.add_argument(
        "--threads", type=int, default=None, help="embedded model threads (default: half the cores)"
    )
    ap.add_argument("--base-url", help="an OpenAI-compatible endpoint to judge with as well (…/v1)")
    ap.add_argument("--model", help="the endpoint's model name")
    ap.add_argument("--api-key-env", help="environment variable holding the endpoint's key")
    ap.add_argument(
        "--structured", action="store_true", help="the endpoint honours response_format json_schema"
    )
    ap.add_argument(
        "--examples",
        choices=("as-given", "violating-last", "none"),
        default="as-given",
        help="the rule's labelled examples: as the corpus gives them (the compliant one last), the violating one "
        "last, or none",
    )
    ap.add_argument("--json", type=Path, help="write every per-change result here")
    args = ap.parse_args()
    wanted = [p.strip() for p in args.principles.split(",") if p.strip()]
    unknown = sorted(set(wanted) - set(PRINCIPLES))
    if unknown:
        ap.error(f"unknown principle(s) {', '.join(unknown)}; known: {', '.join(PRINCIPLES)}")
    if args.base_url and not args.model:
        ap.error("--base-url needs --model")
    changes = [c for c in CHANGES if c.principle in wanted]
    models: list[ModelConfig] = []
    if not args.no_embedded:
        models.append(ModelConfig(n_threads=args.threads, timeout_seconds=300))
    if args.base_url:
        models.append(
            ModelConfig(
                backend="openai",
                model=args.model,
                base_url=args.base_url,
                api_key_env=args.api_key_env,
                structured_output=args.structured,
                timeout_seconds=120,
            )
        )
    if not models:
        ap.error("nothing to run: --no-embedded without --base-url")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        fixed = static(Path(tmp), changes)
        for mc in models:
            # One pool per model, no cache: every figure is a real call.
            pool = make_llm(LLMConfig(models=(mc,), cache=False))
            rows += judged(Path(tmp), mc.label, pool, changes, args.examples)
    _summary(rows, changes, fixed)
    if args.json:
        args.json.write_text(json.dumps({"static": fixed, "judged": rows}, indent=1))
    print(f"\n{statistics.fmean(r['seconds'] for r in rows):.2f} s mean per judged change" if rows else "")


if __name__ == "__main__":
    main()
