"""The pytest plugin on a real third-party suite, with no edit to its tests (issue 16's targets).

    python benchmarks/plugin_bench.py [--package more-itertools==11.2.1] [--runs 20] [--tests tests] [--json FILE]

The package's sdist (which ships its tests) comes from ``~/.cache/godel-bench`` or, the first time, from the
configured package index with ``pip download --no-binary :all: --no-deps`` (nothing else is fetched). It is unpacked
into a temporary folder and its suite is run in fresh pytest processes:

1. as released, with the plugin: it passes and no event is written; then what the plugin costs, as the CPU time of
   ``--small`` (a part of the suite) run three times with and three times without it, alternating;
2. a copy with five library functions broken (three raise, two return early; the tests are untouched), run on
   ``--small`` and on the whole suite under ``pytest -n 2``: every failure and error pytest reports (its ``-rfE``
   summary, failed subtests included) has its event and no event is extra; every line parses and has every field;
3. a copy where one library function fails at random (``random.random() < 0.5``): one test of it run ``--runs``
   times with the plugin (seeded: one outcome) and with ``-p no:godel`` (unseeded: both outcomes);
4. with ``--godel-block-loopback``, a probe test kept outside the package's tests (``probe/``) connects to a port
   it listens on at 127.0.0.1: the plugin refuses with its message and no connection reaches the listener; the
   same probe without the setting connects (the listener was reachable);
5. ``godel tests candidates`` on the package made a git repository of one commit (an sdist has no history: churn
   is each file's size), coverage from ``--small`` alone (the whole suite covers more-itertools fully, which would
   score every module 0); and the plugin's import time.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CACHE = Path.home() / ".cache" / "godel-bench"
GODEL = str(Path(sys.executable).with_name("godel"))

BROKEN = {  # function in more_itertools -> how it is broken
    "chunked": "raise",
    "windowed": "raise",
    "unique_everseen": "raise",
    "take": "return",
    "flatten": "return",
}
FLAKY = ("first", "tests/test_more.py::FirstTests::test_many")

PROBE = """
import json, os, select, socket

def test_connects_to_a_port_on_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        pending = bool(select.select([server], [], [], 0.5)[0])
        with open(os.environ["PROBE_OUT"], "w") as f:
            json.dump({"port": port, "connection_reached_listener": pending}, f)
        server.close()
"""


def fetch(spec: str) -> Path:
    """The sdist for ``spec`` (name==version), from the cache or the configured index."""
    name, _, version = spec.partition("==")
    stem = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
    cached = [p for p in CACHE.glob("*.tar.gz") if p.name.lower() == f"{stem}.tar.gz"]
    if cached:
        return cached[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "-d",
            str(CACHE),
            spec,
        ],
        check=True,
    )
    cached = [p for p in CACHE.glob("*.tar.gz") if p.name.lower() == f"{stem}.tar.gz"]
    if not cached:
        raise SystemExit(f"pip download left no {stem}.tar.gz in {CACHE}")
    return cached[0]


def unpack(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as tar:
        tar.extractall(into, filter="data")
    [top] = [p for p in into.iterdir() if p.is_dir()]
    return top


def plugin_args() -> tuple[list[str], list[str], str]:
    """(args that load the plugin, args that leave it out, how it is loaded)."""
    eps = importlib.metadata.entry_points(group="pytest11")
    if any(ep.name == "godel" and ep.value == "godel.pytest_plugin" for ep in eps):
        return [], ["-p", "no:godel"], "the installed pytest11 entry point"
    # A source tree whose installed metadata predates the entry point: load the same module by name.
    return (
        ["-p", "godel.pytest_plugin"],
        [],
        "-p godel.pytest_plugin (installed godel has no entry point yet)",
    )


def env_for(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GODEL_")) and k not in (
        "FREEZE_TIME", "ALLOW_NET", "PYTHONHASHSEED")}  # fmt: skip
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def pytest(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """One pytest process: its result, wall seconds and CPU seconds (user + system: steadier on a busy machine)."""
    print(f"  pytest {' '.join(args)}  ({root.parent.name})", file=sys.stderr, flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=root, env=env_for(env), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def summary_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [
        line.strip("= ")
        for line in proc.stdout.splitlines()
        if " in " in line and re.search(r"\d+ \w+", line)
    ]
    return lines[-1] if lines else f"(exit {proc.returncode})"


def reported_failures(proc: subprocess.CompletedProcess[str]) -> Counter[str]:
    """Node ids of pytest's short summary (-rfE): FAILED, ERROR and SUBFAILED(n=1, m=2) lines."""
    got: Counter[str] = Counter()
    for line in proc.stdout.splitlines():
        if line.startswith(("FAILED ", "ERROR ", "SUBFAILED")):
            m = re.search(r" (\S+\.py(?:::\S+)?)(?: - |$)", line)
            if m:
                got[m.group(1)] += 1
    return got


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


FIELDS = (
    "ts",
    "suite",
    "test_id",
    "file",
    "error_class",
    "message",
    "stack",
    "repro_cmd",
    "seed",
    "env",
    "signature",
)


def break_functions(module: Path, how: dict[str, str], flaky: str | None = None) -> list[str]:
    """Insert a first statement into top-level functions of ``module`` (after the docstring)."""
    text = module.read_text()
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    edits: list[tuple[int, str]] = []
    done = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name not in (set(how) | {flaky}):
            continue
        body = node.body
        first = body[1] if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body[0]  # fmt: skip
        indent = " " * first.col_offset
        if node.name == flaky:
            stmt = f"{indent}import random as _r\n{indent}if _r.random() < 0.5:\n{indent}    raise RuntimeError('godel bench: fails at random')\n"  # fmt: skip
        elif how[node.name] == "raise":
            stmt = f"{indent}raise RuntimeError('godel bench: {node.name} deliberately broken')\n"
        else:
            stmt = f"{indent}return iter(())\n"
        edits.append((first.lineno - 1, stmt))
        done.append(node.name)
    for index, stmt in sorted(edits, reverse=True):
        lines.insert(index, stmt)
    module.write_text("".join(lines))
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", default="more-itertools==11.2.1")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--tests", default="tests", help="the package's test path(s), space-separated")
    ap.add_argument(
        "--small", default="tests/test_recipes.py",
        help="a part of the suite for the repeated runs (cost, broken copy without xdist, candidates)",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    on, off, how_loaded = plugin_args()
    tests = a.tests.split()
    rows: list[tuple[str, str, str]] = []
    figures: dict[str, Any] = {"package": a.package, "plugin_loaded_by": how_loaded}
    sdist = fetch(a.package)
    with tempfile.TemporaryDirectory(prefix="godel-plugin-bench-") as tmp:
        base = unpack(sdist, Path(tmp) / "clean")
        pkg_dir = base / re.sub(r"[-.]+", "_", a.package.partition("==")[0]).lower()
        if not (pkg_dir / "more.py").exists():
            raise SystemExit(f"{pkg_dir} has no more.py: this benchmark breaks more-itertools' functions")

        # 1. as released, and what the plugin costs (alternating runs of a smaller part, CPU time)
        proc_on, t_on, _ = pytest(base, *on, "-q", *tests)
        events = read_events(base / "reports" / "events.ndjson")
        cpu: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(3):
            for mode, args in (("off", off), ("on", on)):
                cpu[mode].append(pytest(base, *args, "-q", *a.small.split())[2])
        cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
        figures["clean"] = {"with_plugin": summary_line(proc_on), "seconds": round(t_on, 1), "events": len(events),
                            "overhead_cpu_seconds": {"on": cpu["on"], "off": cpu["off"]}}  # fmt: skip
        rows.append((f"{a.package} suite as released", "passes, 0 events",
                     f"{summary_line(proc_on)}; {len(events)} events"))  # fmt: skip
        rows.append((f"plugin cost ({a.small}, 3 runs each, CPU)", "small",
                     f"{cpu_on:.2f} s with, {cpu_off:.2f} s without (median): {cpu_on / cpu_off - 1:+.0%}"))  # fmt: skip

        # 2. deliberately broken copy
        broken = Path(tmp) / "broken" / base.name
        shutil.copytree(base, broken, ignore=shutil.ignore_patterns("reports"))
        done = break_functions(broken / pkg_dir.name / "more.py", BROKEN) + break_functions(
            broken / pkg_dir.name / "recipes.py", BROKEN
        )
        for label, extra, paths in (
            (f" ({a.small})", [], a.small.split()),
            (" under -n 2", ["-n", "2"], tests),
        ):
            shutil.rmtree(broken / "reports", ignore_errors=True)
            proc, secs, _ = pytest(broken, *on, "-q", "-rfE", *extra, *paths)
            events = read_events(broken / "reports" / "events.ndjson")
            want = reported_failures(proc)
            got = Counter(e["test_id"] for e in events)
            missing, extra_events = sum((want - got).values()), sum((got - want).values())
            complete = sum(all(k in e for k in FIELDS) for e in events)
            groups = json.loads(subprocess.run(
                [GODEL, "tests", "events", "--json", "--path", str(broken / "reports" / "events.ndjson")],
                env=env_for(), capture_output=True, text=True, timeout=300, check=True).stdout)["groups"]  # fmt: skip
            figures["broken" + label.replace(" ", "_")] = {
                "broken_functions": done, "summary": summary_line(proc), "reported": sum(want.values()),
                "events": len(events), "missing": missing, "extra": extra_events, "complete": complete,
                "signatures": len(groups), "seconds": round(secs, 1),
            }  # fmt: skip
            rows.append((f"broken copy ({len(done)} functions){label}: failures -> events",
                         "an event for every failure",
                         f"{sum(want.values())} failures/errors reported, {len(events)} events "
                         f"({complete} with every field), {missing} missing, {extra_events} extra; "
                         f"{len(groups)} signatures; {summary_line(proc)}"))  # fmt: skip

        # 3. a function that fails at random
        flaky = Path(tmp) / "flaky" / base.name
        shutil.copytree(base, flaky, ignore=shutil.ignore_patterns("reports"))
        break_functions(flaky / pkg_dir.name / "more.py", {}, flaky=FLAKY[0])
        outcomes: dict[str, Counter[str]] = {}
        for mode, args in (("plugin", on), ("no plugin", off)):
            seen: Counter[str] = Counter()
            for _ in range(a.runs):
                proc, _, _ = pytest(flaky, *args, "-q", FLAKY[1])
                seen["passed" if proc.returncode == 0 else "failed"] += 1
            outcomes[mode] = seen
        figures["random"] = {"test": FLAKY[1], "runs": a.runs, **{k: dict(v) for k, v in outcomes.items()}}
        rows.append((f"random-dependent test, {a.runs} runs ({FLAKY[1]})", "one outcome",
                     f"plugin (PYTEST_SEED=1337): {dict(outcomes['plugin'])}; "
                     f"-p no:godel: {dict(outcomes['no plugin'])}"))  # fmt: skip

        # 4. loopback blocked
        probe = base / "probe"
        probe.mkdir()
        (probe / "test_probe.py").write_text(PROBE)
        results = {}
        for mode, args in (("blocked", ["--godel-block-loopback"]), ("open", [])):
            out = Path(tmp) / f"probe-{mode}.json"
            shutil.rmtree(base / "reports", ignore_errors=True)
            proc, _, _ = pytest(base, *on, "-q", *args, "probe", env={"PROBE_OUT": str(out)})
            events = read_events(base / "reports" / "events.ndjson")
            results[mode] = {"exit": proc.returncode, **json.loads(out.read_text()),
                             "events": [(e["error_class"], e["message"]) for e in events]}  # fmt: skip
        figures["loopback"] = results
        [(cls, message)] = results["blocked"]["events"] or [("", "(no event)")]
        rows.append(("probe connects to 127.0.0.1 with --godel-block-loopback", "refused by the plugin first",
                     f"{cls}; reached the listener: {results['blocked']['connection_reached_listener']} "
                     f"(without the setting: {results['open']['connection_reached_listener']}, exit "
                     f"{results['open']['exit']}); message: {message}"))  # fmt: skip

        # 5. the candidate finder, and what loading the plugin costs
        shutil.rmtree(base / "probe")
        shutil.rmtree(base / "reports", ignore_errors=True)
        git = [
            "git",
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ]
        subprocess.run([*git, "init", "-q"], cwd=base, check=True)
        subprocess.run([*git, "add", "-A"], cwd=base, check=True)
        subprocess.run([*git, "commit", "-q", "-m", "sdist"], cwd=base, check=True)
        t0 = time.perf_counter()
        cand = subprocess.run([GODEL, "tests", "candidates", str(base), "--json", "--top", "5",
                               "--pytest-args", " ".join(["-q", *on, *a.small.split()])],
                              env=env_for(), capture_output=True, text=True, timeout=1800)  # fmt: skip
        if cand.returncode != 0:
            raise SystemExit(f"godel tests candidates failed: {cand.stderr}")
        doc = json.loads(cand.stdout)
        figures["candidates"] = {"seconds": round(time.perf_counter() - t0, 1), **doc}
        top = ", ".join(f"{c['file']} cov {c['coverage']:.1%} churn {c['churn']} score {c['score']:.3f}"
                        for c in doc["candidates"][:3])  # fmt: skip
        rows.append((f"godel tests candidates (coverage of {a.small} + git)", "ranked modules",
                     f"{doc['modules']} modules; {top}; {figures['candidates']['seconds']} s"))  # fmt: skip

    samples = []
    for _ in range(7):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import pytest; import godel.pytest_plugin"],
                             env=env_for(), capture_output=True, text=True, check=True).stderr  # fmt: skip
        line = next(x for x in out.splitlines() if x.rstrip().endswith("| godel.pytest_plugin"))
        samples.append(int(line.split("|")[1]) / 1000)
    figures["import_ms_median"] = round(statistics.median(samples), 1)
    rows.append(("import godel.pytest_plugin (pytest already loaded)", "tiny",
                 f"{statistics.median(samples):.1f} ms median of 7 (min {min(samples):.1f})"))  # fmt: skip

    print(f"plugin loaded by {how_loaded}; load average {os.getloadavg()[0]:.1f}")
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'target':<30}  measured")
    for what, target, measured in rows:
        print(f"{what:<{width}}  {target:<30}  {measured}")
    if a.json:
        a.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
