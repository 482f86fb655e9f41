"""``ConstitutionGate``: the constitution and the static rules, deciding on a proposal before it runs; then, when
they let it through, the model-judged rules (``model_judge``), which ask the run's model pool."""

from __future__ import annotations

import fnmatch
import hashlib
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from godel.candidate import Program, Proposal, unified_diff
from godel.config import CONFIG_NAMES, GuardConfig
from godel.errors import GodelError, GuardError
from godel.guard._approvals import expire
from godel.guard._base import Decision, Verdict
from godel.guard._constitution import Allowance, LoadedConstitution, Rule, load_constitution
from godel.guard._source import Source, parse_source
from godel.guard.rules import (
    CHECKS,
    Context,
    Finding,
    Judgement,
    JudgeParams,
    Protected,
    ask,
    distinctive_constants,
)

if TYPE_CHECKING:
    from godel.archive import Archive
    from godel.llm import Pool
    from godel.task import Task

__all__ = ["ConstitutionGate"]

_ACTOR = "guard"
_MAX_HASHED_BYTES = 50_000_000
_MAX_COPY_BYTES = 1_000_000
_PARENT_CACHE = 256
_STDLIB = frozenset(sys.stdlib_module_names)
_ALWAYS_PROTECTED = ("conftest.py", "godel.toml", "godel.yaml", "godel.yml", "constitution.yaml", "*.sig")


@dataclass
class _Watched:
    mtime_ns: int
    size: int
    sha256: str


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _diff_lines(a: str, b: str) -> int:
    """Lines added plus lines removed, as a multiset difference (a moved line counts as unchanged).

    Cheaper than a real diff by an order of magnitude and exact for the size limits it serves.
    """
    if a == b:
        return 0
    ca, cb = Counter(a.splitlines()), Counter(b.splitlines())
    return sum(((ca - cb) + (cb - ca)).values())


def _top_imports(src: Source) -> set[str]:
    return {m.split(".")[0] for m, _ in src.imports if not m.startswith(".")}


class ConstitutionGate:
    """The gate of one task: a constitution, loaded and pinned at construction, and the rules it names.

    ``llm`` gives the run's model pool to the model-judged rules (called only when one is consulted, so a
    constitution without such rules never loads a model); without it those rules take their ``on_error``
    fallback."""

    def __init__(
        self,
        config: GuardConfig,
        task_root: str | Path,
        *,
        task: Task | None = None,
        llm: Callable[[], Pool] | None = None,
    ) -> None:
        self.config = config
        self.llm = llm
        self.root = Path(task_root).resolve()
        self.loaded: LoadedConstitution = self._load()
        self.constitution = self.loaded.constitution
        self.default: Decision = config.default or self.constitution.default
        self._lock = threading.Lock()
        self._watched: dict[Path, _Watched] = {}
        self._protected: Protected | None = None
        self._archive: Archive | None = None
        self._run_id: int | None = None
        self._parent_cache: OrderedDict[tuple[str, str], list[Finding]] = OrderedDict()
        if task is not None:
            self._protect(task)

    # -- constitution -------------------------------------------------------------------------------------------

    def _load(self) -> LoadedConstitution:
        kw = {"key_env": self.config.hmac_key_env, "require_signature": self.config.require_signature}
        if self.config.constitution:
            path = Path(self.config.constitution)
            return load_constitution(path if path.is_absolute() else self.root / path, source="config", **kw)  # type: ignore[arg-type]
        own = self.root / "constitution.yaml"
        if own.is_file():
            return load_constitution(own, source="task", **kw)  # type: ignore[arg-type]
        return load_constitution(None, **kw)  # type: ignore[arg-type]

    @property
    def sha256(self) -> str:
        return self.loaded.sha256

    def _verify(self) -> None:
        """Before every decision: the constitution and every protected file still have their recorded hashes."""
        self.loaded.verify_unchanged()
        for path, w in self._watched.items():
            try:
                st = path.stat()
            except OSError as exc:
                raise GuardError(
                    f"protected task file {path} disappeared during the run ({exc})",
                    hint="restore it; the evaluator and its data must not change while a run uses them",
                ) from exc
            if st.st_mtime_ns == w.mtime_ns and st.st_size == w.size:
                continue
            now = _sha(path.read_bytes())
            if now != w.sha256:
                raise GuardError(
                    f"protected task file {path} changed during the run (sha256 {w.sha256[:12]}... -> {now[:12]}...)",
                    hint="restore it, or start a new run to evaluate against the new version",
                )
            w.mtime_ns, w.size = st.st_mtime_ns, st.st_size

    # -- protected files ----------------------------------------------------------------------------------------

    def _protect(self, task: Task) -> Protected:
        if self._protected is not None:
            return self._protected
        rels: dict[str, bytes] = dict(task.support_files)
        extra = [self.loaded.path]
        if self.config.holdout_evaluator:
            extra.append(self.root / self.config.holdout_evaluator)
        for name in CONFIG_NAMES:
            if (self.root / name).is_file():
                extra.append(self.root / name)
        for pattern in self.config.protected:
            extra.extend(p for p in self.root.glob(pattern) if p.is_file())
        for p in extra:
            try:
                rel = p.resolve().relative_to(self.root).as_posix()
            except ValueError:
                rel = p.name
            if rel not in rels:
                try:
                    rels[rel] = p.read_bytes()
                except OSError as exc:
                    raise GuardError(f"protected file {p} cannot be read: {exc}") from exc
        names: set[str] = set()
        stems: set[str] = set()
        hashes: dict[str, str] = {}
        constants: dict[str, str] = {}
        total = 0
        program_files = {f.lower() for f in task.program.files}
        for rel, data in rels.items():
            base = rel.rsplit("/", 1)[-1].lower()
            if base in program_files:
                continue  # a task file that shares the program's name would block the program itself
            names.add(base)
            if base.endswith(".py"):
                stems.add(base[:-3])
            if len(data) <= _MAX_COPY_BYTES:
                hashes[_sha(data)] = rel
            total += len(data)
            if total <= _MAX_HASHED_BYTES:
                constants.update(distinctive_constants(rel, data))
            path = self.root / rel
            if path.is_file():
                st = path.stat()
                self._watched[path] = _Watched(st.st_mtime_ns, st.st_size, _sha(path.read_bytes()))
        for seed_src in task.program.files.values():
            # Constants the seed already holds are the task author's, not copied answers.
            for k in distinctive_constants("seed.py", seed_src.encode()):
                constants.pop(k, None)
        patterns = (
            *_ALWAYS_PROTECTED,
            task.evaluator_path.rsplit("/", 1)[-1],
            *((self.config.holdout_evaluator.rsplit("/", 1)[-1],) if self.config.holdout_evaluator else ()),
            *self.config.protected,
        )
        self._protected = Protected(
            patterns=patterns,
            names=frozenset(names),
            stems=frozenset(stems),
            hashes=hashes,
            constants=constants,
        )
        return self._protected

    # -- Guard protocol -----------------------------------------------------------------------------------------

    def start(self, archive: Archive, run_id: int, task: Task) -> None:
        self.loaded.verify_unchanged()
        protected = self._protect(task)
        self._verify()
        previous = [e for e in archive.events(run_id) if e.kind == "constitution"]
        if previous and previous[-1].payload.get("sha256") != self.sha256:
            raise GuardError(
                f"the constitution of run {run_id} changed since the run started "
                f"({str(previous[-1].payload.get('sha256'))[:12]}... recorded, {self.sha256[:12]}... now)",
                hint="restore the original constitution to resume, or start a new run",
            )
        self._archive, self._run_id = archive, run_id
        archive.add_event(
            run_id,
            "constitution",
            {
                "sha256": self.sha256,
                "path": str(self.loaded.path),
                "source": self.loaded.source,
                "name": self.constitution.name,
                "version": self.constitution.version,
                "signed": self.loaded.signed,
                "default": self.default,
                "approval": self.constitution.approval.model_dump(mode="json"),
                "protected": {str(p.relative_to(self.root)) if p.is_relative_to(self.root) else str(p): w.sha256
                              for p, w in self._watched.items()},
                "protected_names": sorted(protected.names),
                "resumed": bool(previous),
            },
            actor=_ACTOR,
        )  # fmt: skip

    def expire(self, archive: Archive, run_id: int) -> None:
        """Apply the constitution's approval timeout to the run's queue (approve or reject what waited too long)."""
        expire(archive, run_id, self.constitution, timeout_seconds=self.config.approval_timeout_seconds)

    def check(self, task: Task, parent: Program, child: Program, proposal: Proposal | None = None) -> Verdict:
        t0 = time.perf_counter()
        with self._lock:
            self._verify()
        protected = self._protect(task)
        changed = sorted(
            p for p in set(parent.files) | set(child.files) if parent.files.get(p) != child.files.get(p)
        )
        diff_by_file = {p: _diff_lines(parent.files.get(p, ""), child.files.get(p, "")) for p in changed}
        total_diff = sum(diff_by_file.values())
        child_src: dict[str, Source] = {}
        parent_src: dict[str, Source] = {}
        errors: list[str] = []
        for p in changed:
            if p.endswith(".py"):
                if p in child.files:
                    child_src[p] = parse_source(p, child.files[p])
                    if child_src[p].error:
                        errors.append(str(child_src[p].error))
                if p in parent.files:
                    parent_src[p] = parse_source(p, parent.files[p])
        ctx = Context(
            child={k: v for k, v in child_src.items() if v.ok},
            texts={p: child.files[p] for p in changed if p in child.files},
            parent=parent_src,
            parent_texts={p: parent.files[p] for p in changed if p in parent.files},
            protected=protected,
            markers=self.config.canary_markers,
            diff_lines=total_diff,
        )
        findings: list[dict[str, Any]] = []
        inherited = 0
        tiers: tuple[tuple[str, tuple[Rule, ...]], ...] = (
            ("deny", self.constitution.deny),
            ("require_approval", self.constitution.require_approval),
        )
        judged: list[tuple[str, Rule, JudgeParams]] = []
        for tier, tier_rules in tiers:
            for rule in tier_rules:
                check = CHECKS[rule.check]
                params = check.params_model.model_validate(rule.params)
                if check.judged:
                    assert isinstance(params, JudgeParams)  # the one judged check there is
                    judged.append((tier, rule, params))
                    continue
                got = check.fn(ctx, params)
                if not got:
                    continue
                old = self._parent_findings(rule, check.fn, params, ctx, parent)
                budget: dict[tuple[str, str], int] = {}
                for o in old:
                    budget[(o.path, o.message)] = budget.get((o.path, o.message), 0) + 1
                seen: set[tuple[str, str, int | None]] = set()
                for g in got:
                    if (g.path, g.message, g.line) in seen:
                        continue
                    seen.add((g.path, g.message, g.line))
                    key = (g.path, g.message)
                    if budget.get(key, 0) > 0:
                        budget[key] -= 1
                        inherited += 1
                        continue
                    findings.append({"rule": rule.id, "tier": tier, **g.to_dict()})
        ops, unmatched = self._operations(parent, child, changed, diff_by_file, child_src, parent_src)
        reasons: list[str] = []
        rules: list[str] = []
        decision: Decision = "allow"
        if total_diff > self.config.max_diff_lines:
            decision = "deny"
            rules.append("max-diff")
            reasons.append(
                f"diff of {total_diff} lines exceeds guard.max_diff_lines={self.config.max_diff_lines}"
            )
        for f in findings:
            where = f"{f['path']}:{f['line']}" if f["line"] else f["path"]
            reasons.append(f"[{f['rule']}] {f['message']}" + (f" ({where})" if where else ""))
            if f["rule"] not in rules:
                rules.append(f["rule"])
            if f["tier"] == "deny":
                decision = "deny"
            elif decision == "allow":
                decision = "require_approval"
        for u in unmatched:
            reasons.append(f"[default:{self.default}] {u}")
            if "default" not in rules:
                rules.append("default")
            if self.default == "deny":
                decision = "deny"
            elif decision == "allow":
                decision = "require_approval"
        details: dict[str, Any] = {
            "constitution": self.sha256,
            "findings": findings,
            "operations": ops,
            "unmatched": unmatched,
            "inherited": inherited,
            "diff_lines": total_diff,
        }
        judgements: list[Judgement] = []
        if judged and decision != "allow":
            # The static rules already decided; a model adds nothing a human or a denial does not already cover.
            details["judge_skipped"] = f"the static rules decided {decision}; no model was asked"
        elif judged:
            diff = unified_diff(parent, child)
            pool = self._pool()
            for n, (tier, rule, jparams) in enumerate(judged):
                if decision == "deny":
                    # Nothing can undo a denial: the remaining judges would only spend the budget.
                    rest = ", ".join(r.id for _, r, _ in judged[n:])
                    details["judge_skipped"] = f"{rest}: not asked, an earlier judged rule denied"
                    break
                j = ask(pool, rule.id, "deny" if tier == "deny" else "require_approval", jparams, diff)
                judgements.append(j)
                if j.reason is not None:
                    reasons.append(j.reason)
                    rules.append(rule.id)
                if j.decision == "deny":
                    decision = "deny"
                elif j.decision == "require_approval" and decision == "allow":
                    decision = "require_approval"
            details["judge"] = [j.to_dict() for j in judgements]
        if errors:
            details["syntax_errors"] = errors
        seconds = time.perf_counter() - t0
        return Verdict(
            decision,
            tuple(reasons),
            tuple(rules),
            round(seconds, 6),
            details,
            tokens_in=sum(j.tokens_in for j in judgements),
            tokens_out=sum(j.tokens_out for j in judgements),
            cost=sum(j.cost for j in judgements),
        )

    def _pool(self) -> Pool | GodelError:
        """The run's model pool, or the reason there is none (which the judged rules record as their fallback)."""
        if self.llm is None:
            return GuardError("the guard was built without a model pool", hint="build it with make_guard")
        try:
            return self.llm()
        except GodelError as exc:
            return exc

    def _parent_findings(
        self,
        rule: Rule,
        fn: Callable[[Context, Any], list[Finding]],
        params: Any,
        ctx: Context,
        parent: Program,
    ) -> list[Finding]:
        key_src = "\0".join(f"{p}\0{_sha(parent.files[p].encode())}" for p in sorted(ctx.parent))
        key = (rule.id, key_src)
        with self._lock:
            hit = self._parent_cache.get(key)
            if hit is not None:
                self._parent_cache.move_to_end(key)
                return hit
        pctx = Context(
            child={k: v for k, v in ctx.parent.items() if v.ok},
            texts=ctx.parent_texts,
            parent={},
            parent_texts={},
            protected=ctx.protected,
            markers=ctx.markers,
            diff_lines=0,
        )
        res = fn(pctx, params)
        with self._lock:
            self._parent_cache[key] = res
            while len(self._parent_cache) > _PARENT_CACHE:
                self._parent_cache.popitem(last=False)
        return res

    def _allowed(self, op: str, path: str | None = None, module: str | None = None) -> list[Allowance]:
        out = []
        for a in self.constitution.allow:
            if a.operation != op:
                continue
            if path is not None and not any(fnmatch.fnmatchcase(path, g) for g in a.paths):
                continue
            if module is not None and not any(
                (m == "@stdlib" and module.split(".")[0] in _STDLIB)
                or module == m
                or (m.endswith(".*") and module.startswith(m[:-1]))
                or (m == "*")
                for m in a.modules
            ):
                continue
            out.append(a)
        return out

    def _operations(
        self,
        parent: Program,
        child: Program,
        changed: list[str],
        diff_by_file: dict[str, int],
        child_src: dict[str, Source],
        parent_src: dict[str, Source],
    ) -> tuple[list[dict[str, Any]], list[str]]:
        ops: list[dict[str, Any]] = []
        unmatched: list[str] = []
        total = sum(diff_by_file.values())
        for p in changed:
            size = len(child.files.get(p, "").encode())
            if p in parent.files and p in child.files:
                op = "edit"
            elif p in child.files:
                op = "add_file"
            else:
                op = "delete_file"
            ops.append({"operation": op, "path": p, "diff_lines": diff_by_file[p], "bytes": size})
            allow = self._allowed(op, path=p)
            if not allow:
                unmatched.append(f"{op} {p}: no allow rule covers it")
                continue
            if not any(
                (a.max_diff_lines is None or total <= a.max_diff_lines)
                and (a.max_file_bytes is None or size <= a.max_file_bytes)
                for a in allow
            ):
                lim = allow[0]
                unmatched.append(
                    f"{op} {p}: {total} diff lines / {size} bytes exceed the allowed "
                    f"{lim.max_diff_lines} lines / {lim.max_file_bytes} bytes"
                )
        before: set[str] = set()
        for s in parent_src.values():
            before |= _top_imports(s)
        for p in parent.files:
            if p not in parent_src and p.endswith(".py") and p in child_src:
                before |= _top_imports(parse_source(p, parent.files[p]))
        local = {p.rsplit("/", 1)[-1][:-3] for p in child.files if p.endswith(".py")}
        for p, s in child_src.items():
            for mod, _ in s.imports:
                if mod.startswith("."):
                    continue
                top = mod.split(".")[0]
                if top in before or top in local:
                    continue
                before.add(top)
                ops.append({"operation": "import", "module": top, "path": p})
                if not self._allowed("import", module=top):
                    unmatched.append(f"import {top}: no allow rule covers this module")
        return ops, unmatched

    # -- after evaluation ---------------------------------------------------------------------------------------
