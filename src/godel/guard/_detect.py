"""``HackingDetector``: flags on evaluated candidates (score jumps, canaries, hold-out gap, re-runs)."""

from __future__ import annotations

import math
import statistics
import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from godel.candidate import Candidate, Status
from godel.config import GuardConfig
from godel.evaluate import Evaluates
from godel.noise import Noise

if TYPE_CHECKING:
    from godel.archive import Archive
    from godel.task import Task

__all__ = ["HackingDetector"]

_ACTOR = "guard"


class HackingDetector:
    """The detectors of one run. :meth:`review` runs on every evaluated candidate and is cheap; :meth:`confirm`
    runs on a candidate about to become best and may evaluate it again (hold-out evaluator, re-run)."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._scores: deque[float] = deque(maxlen=config.jump_window)
        self._baseline_gap: float | None = None
        self._parent_holdout: dict[int, float | None] = {}  # parent id -> its hold-out score
        self._archive: Archive | None = None
        self._run_id: int | None = None
        self.gaps: list[dict[str, Any]] = []  # every hold-out comparison made in this process

    def start(self, archive: Archive, run_id: int, task: Task) -> None:
        """Attach to the run and recall the recent scores the jump alarm compares against."""
        self._archive, self._run_id = archive, run_id
        rows = [r for r in archive.rows(run_id) if r.status == Status.OK and r.score is not None]
        with self._lock:
            for r in rows[-self.config.jump_window :]:
                assert r.score is not None
                if math.isfinite(r.score):
                    self._scores.append(r.score)

    def confirm(
        self,
        task: Task,
        candidate: Candidate,
        history: Sequence[Candidate],
        evaluator: Evaluates,
        noise: Noise = Noise(),
    ) -> list[str]:
        """For a candidate about to become best: the hold-out gap against its parent's, and (``guard.rerun``) a
        re-run of the visible score, both judged in units of the measured noise."""
        parent = _parent(candidate, history)
        flags = self.holdout(task, candidate, evaluator, parent=parent, noise=noise)
        if self.config.rerun:
            flags.extend(self.rerun(task, candidate, evaluator, noise))
        return flags

    def review(
        self, task: Task, candidate: Candidate, history: Sequence[Candidate], noise: Noise = Noise()
    ) -> list[str]:
        if candidate.iteration == 0 or candidate.score is None:
            return []
        parent = _parent(candidate, history)
        flags: list[str] = []
        jump = self._jump(candidate, parent, history, noise)
        if jump:
            flags.append(jump)
        if parent is not None:
            flags.extend(self._canaries(candidate, parent))
        if math.isfinite(candidate.score):
            with self._lock:
                self._scores.append(candidate.score)
        if flags:
            self._event("flag", {"candidate": candidate.id, "flags": flags, "score": candidate.score})
        return flags

    def _jump(
        self, cand: Candidate, parent: Candidate | None, history: Sequence[Candidate], noise: Noise
    ) -> str | None:
        assert cand.score is not None
        with self._lock:
            ref = list(self._scores)
        ref.extend(
            h.score for h in history if h.score is not None and h.id != cand.id and h.status == Status.OK
        )
        ref = [s for s in ref if math.isfinite(s)]
        if len(ref) < self.config.jump_min_history or not math.isfinite(cand.score):
            return None
        mu = statistics.fmean(ref)
        sigma = max(statistics.pstdev(ref), 0.01 * max(abs(mu), 1e-9))
        base = parent.score if parent is not None and parent.score is not None else mu
        gain = cand.score - base
        z = (cand.score - mu) / sigma
        # A gain the evaluator's own noise explains is never a jump: with a measured noise, the gain over the parent
        # must also stand jump_noise_sigma above what two evaluations of one program differ by.
        noise_z = noise.sigmas(gain, at=cand.score, conservative=True) if noise.measured else math.inf
        if (
            gain > self.config.jump_min_delta
            and cand.score > max(ref)
            and z > self.config.k_sigma
            and noise_z > self.config.jump_noise_sigma
        ):
            measured = f"; noise {noise.fitness_std:.3g}: {_sig(noise_z)} sigma" if noise.measured else ""
            return (
                f"score-jump: {cand.score:.6g} is {z:.1f} sigma above the recent mean {mu:.6g} "
                f"(sigma {sigma:.3g}, parent {base:.6g}, k={self.config.k_sigma:g}{measured})"
            )
        return None

    def _canaries(self, cand: Candidate, parent: Candidate) -> list[str]:
        flags = []
        markers = self.config.canary_markers
        p_text = "\n".join(parent.artifacts.values())
        c_text = "\n".join(cand.artifacts.values())
        for m in markers:
            if m in p_text and m not in c_text:
                flags.append(f"canary: marker {m!r} in the parent's evaluation output is missing")
            p_code = any(m in t for t in parent.program.files.values())
            c_code = any(m in t for t in cand.program.files.values())
            if p_code and not c_code:
                flags.append(f"canary: marker {m!r} in the parent's code is missing")
        for key, value in parent.metrics.items():
            if key.startswith("canary"):
                if key not in cand.metrics:
                    flags.append(f"canary: metric {key} disappeared")
                elif cand.metrics[key] != value:
                    flags.append(f"canary: metric {key} changed from {value:g} to {cand.metrics[key]:g}")
        return flags

    def holdout(
        self,
        task: Task,
        candidate: Candidate,
        evaluator: Evaluates,
        *,
        parent: Candidate | None = None,
        noise: Noise = Noise(),
    ) -> list[str]:
        """The candidate's visible-minus-hold-out gap against its parent's (the seed's when there is no parent):
        flagged when it grew by more than ``guard.gap_threshold`` (relative to the score when above 1) and by more
        than ``guard.gap_sigma`` times what the noise lets a difference of gaps move."""
        hf = self.config.holdout_evaluator
        if not hf or candidate.score is None:
            return []
        flags: list[str] = []
        ev = evaluator.evaluate(candidate.program, evaluator_file=hf, label="hold-out")
        record: dict[str, Any] = {"candidate": candidate.id, "visible": candidate.score}
        if not ev.ok or ev.score is None:
            flags.append(f"holdout: the hold-out evaluation failed ({ev.reason})")
            record["error"] = ev.reason
        else:
            base, against = self._reference_gap(task, evaluator, parent)
            gap = candidate.score - ev.score
            scale = max(1.0, abs(candidate.score))
            excess = (gap - base) / scale
            # Each gap is a difference of two noisy scores: a difference of gaps carries four evaluations' noise.
            z = (
                noise.sigmas(gap - base, n=4.0, at=candidate.score, conservative=True)
                if noise.measured
                else math.inf
            )
            record.update(
                {"holdout": ev.score, "gap": gap, "baseline_gap": base, "against": against, "excess": excess}
            )
            if noise.measured:
                record["sigma"] = z if math.isfinite(z) else None
            if excess > self.config.gap_threshold and z > self.config.gap_sigma:
                measured = f", {_sig(z)} sigma of noise" if noise.measured else ""
                flags.append(
                    f"holdout-gap: visible {candidate.score:.6g} vs hold-out {ev.score:.6g} "
                    f"(gap {gap:.4g}, {against}'s gap {base:.4g}, threshold {self.config.gap_threshold:g}{measured})"
                )
        record["flagged"] = bool(flags)
        with self._lock:
            self.gaps.append(record)
        self._event("holdout", record)
        return flags

    def rerun(
        self, task: Task, candidate: Candidate, evaluator: Evaluates, noise: Noise = Noise()
    ) -> list[str]:
        """Evaluate again with the visible evaluator. With a measured noise the re-run must land within
        ``guard.rerun_sigma`` times what two evaluations of one program differ by; an exact evaluator (or none
        measured) must reproduce within ``guard.rerun_tolerance``."""
        if candidate.score is None:
            return []
        ev = evaluator.evaluate(candidate.program, evaluator_file=task.evaluator_path, label="re-run")
        flags = []
        record: dict[str, Any] = {
            "candidate": candidate.id,
            "score": candidate.score,
            "rerun": ev.score,
            "ok": ev.ok,
        }
        if not ev.ok or ev.score is None:
            flags.append(f"rerun: the re-evaluation failed ({ev.reason})")
        elif noise.measured and not noise.exact:
            z = noise.sigmas(abs(ev.score - candidate.score), at=candidate.score, conservative=True)
            record["sigma"] = z
            if z > self.config.rerun_sigma:
                spread = noise.std_at(candidate.score) * noise.upper()
                flags.append(
                    f"rerun: re-run {ev.score:.6g} vs {candidate.score:.6g}; the measured spread at this score is "
                    f"at most {spread:.3g}: {_sig(z)} sigma, above {self.config.rerun_sigma:g}"
                )
        elif abs(ev.score - candidate.score) > self.config.rerun_tolerance * max(1.0, abs(candidate.score)):
            why = "the seed reproduced exactly" if noise.exact else "no noise was measured"
            flags.append(
                f"rerun: score {candidate.score:.6g} did not reproduce (re-run gave {ev.score:.6g}; {why}, "
                f"tolerance {self.config.rerun_tolerance:g})"
            )
        record["flags"] = flags
        self._event("rerun", record)
        return flags

    def _reference_gap(self, task: Task, evaluator: Evaluates, parent: Candidate | None) -> tuple[float, str]:
        """The gap to compare with: the parent's (visible score minus its hold-out score), else the seed's."""
        if parent is not None and parent.id is not None and parent.score is not None and parent.iteration > 0:
            with self._lock:
                known = parent.id in self._parent_holdout
                hold = self._parent_holdout.get(parent.id)
            if not known:
                assert self.config.holdout_evaluator is not None
                ev = evaluator.evaluate(
                    parent.program, evaluator_file=self.config.holdout_evaluator, label="hold-out parent"
                )
                hold = ev.score if ev.ok else None
                with self._lock:
                    self._parent_holdout[parent.id] = hold
            if hold is not None:
                return parent.score - hold, "parent"
        return self._seed_gap(task, evaluator), "seed"

    def _seed_gap(self, task: Task, evaluator: Evaluates) -> float:
        with self._lock:
            if self._baseline_gap is not None:
                return self._baseline_gap
        assert self.config.holdout_evaluator is not None
        vis = evaluator.evaluate(task.program, evaluator_file=task.evaluator_path, label="seed gap")
        hold = evaluator.evaluate(
            task.program, evaluator_file=self.config.holdout_evaluator, label="seed gap"
        )
        gap = 0.0
        if vis.ok and hold.ok and vis.score is not None and hold.score is not None:
            gap = vis.score - hold.score
        with self._lock:
            self._baseline_gap = gap
        return gap

    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        if self._archive is not None and self._run_id is not None:
            self._archive.add_event(self._run_id, kind, payload, actor=_ACTOR)


def _parent(candidate: Candidate, history: Sequence[Candidate]) -> Candidate | None:
    return next((h for h in history if h.id == candidate.parent_id), history[0] if history else None)


def _sig(z: float) -> str:
    return "inf" if math.isinf(z) else f"{z:.1f}"
