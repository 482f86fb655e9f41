"""The measurement that runs inside the sandbox: the project's suite under coverage.py, the new tests repeated, the
mutants tried. A self-contained script (it imports nothing of godel's); its spec comes in ``spec.json`` and its
report goes out on the result channel as JSON."""

from __future__ import annotations

__all__ = ["DRIVER"]

DRIVER = r"""
import json, os, subprocess, sys, time

spec = json.load(open("spec.json"))
root = os.path.abspath("project")
env = dict(os.environ)
# The sandbox gives this interpreter its site-packages on sys.path, not in the environment: the children need both.
site = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
env["PYTHONPATH"] = os.pathsep.join([os.path.join(root, p) for p in spec["paths"]] + site)
env["PYTHONDONTWRITEBYTECODE"] = "1"
env["PYTHONHASHSEED"] = "0"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:godel", "-x"]
report = {"runs": []}


def run(args, what):
    t0 = time.monotonic()
    try:
        p = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=spec["test_seconds"])
        rc, out = p.returncode, (p.stdout + p.stderr)[-3000:]
    except subprocess.TimeoutExpired:
        rc, out = -1, f"timed out after {spec['test_seconds']} s"
    report["runs"].append({"what": what, "rc": rc, "seconds": round(time.monotonic() - t0, 3)})
    return rc, out


def covered(targets, what):
    data = os.path.join(root, ".coverage." + what)
    cov = [sys.executable, "-m", "coverage", "run", "--data-file=" + data, "--source=" + ",".join(spec["source"])]
    rc, out = run(cov + ["-m"] + PYTEST[2:] + targets, what)
    jfile = data + ".json"
    jrc, jout = run([sys.executable, "-m", "coverage", "json", "--data-file=" + data, "-o", jfile], what + " json")
    files = {}
    if jrc == 0:
        doc = json.load(open(jfile))
        for path, f in doc["files"].items():
            rel = os.path.relpath(os.path.join(root, path), root)
            files[rel] = {"executed": f["executed_lines"], "missing": f["missing_lines"]}
    return rc, out, files


def with_mutant(m, targets, what):
    path = os.path.join(root, m["path"])
    original = open(path).read()
    open(path, "w").write(m["text"])
    try:
        return run(PYTEST + targets, what)[0]
    finally:
        open(path, "w").write(original)


rc, out, files = covered([spec["tests_dir"]], "suite")
report["suite"] = {"rc": rc, "output": out, "files": files}
new = spec["new_tests"]
if rc == 0 and new:
    report["repeats"] = []
    for i in range(spec["repeats"]):
        r, o = run(PYTEST + new, f"new tests, run {i + 1}")
        report["repeats"].append({"rc": r, "output": o[-1500:]})
        if r != 0:
            break
    nrc, _, nfiles = covered(new, "new")
    lines = {p: set(f["executed"]) for p, f in nfiles.items()}
    tried, killed = [], None
    for m in spec["mutants"]:
        if m["line"] not in lines.get(m["path"], ()):
            continue
        tried.append(m["description"] + " in " + m["path"])
        if with_mutant(m, new, "kill " + m["description"]) != 0:
            killed = m["path"] + " " + m["description"]
            break
        if len(tried) >= spec["kill_mutants"]:
            break
    report["kill"] = {"tried": tried, "killed": killed}
if rc == 0:
    score = []
    for m in spec["scoring"]:
        score.append(with_mutant(m, [spec["tests_dir"]], "score " + m["description"]) != 0)
    report["mutation"] = {"killed": sum(score), "total": len(score)}
os.write(3, json.dumps(report).encode())
"""
