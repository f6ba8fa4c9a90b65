"""Treatment trials on disk: the plan that says which fix each trial folder applied and for
which findings, and the trial records read back from the folders the trials wrote.

The plan (`<run>/treatments/plan.json`) is written before the trials start, so a re-diagnosis
of an old run rebuilds every trial's verdict from files alone, never from a live model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mnist_doctor.doctor.findings import Fix
from mnist_doctor.doctor.treatment import Trial
from mnist_doctor.runs.folder import write_json
from mnist_doctor.runs.layout import DIAGNOSIS_FILE, TREATMENT_PLAN_FILE, TREATMENTS_DIR
from mnist_doctor.runs.read import read_findings, read_run_json
from mnist_doctor.vocabulary import Severity


@dataclass(frozen=True)
class Planned:
    """One trial to run: the fix, the findings that proposed it, its kind and its folder."""

    fix: Fix
    codes: tuple[str, ...]
    kind: str
    folder: str

    def to_dict(self) -> dict:
        return {"fix": self.fix.to_dict(), "codes": list(self.codes), "kind": self.kind,
                "folder": self.folder}

    @classmethod
    def from_dict(cls, data: dict) -> Planned:
        return cls(Fix.from_dict(data["fix"]), tuple(data.get("codes") or ()),
                   str(data.get("kind", "single")), str(data["folder"]))


def plan_path(run_dir: Path) -> Path:
    return Path(run_dir) / TREATMENTS_DIR / TREATMENT_PLAN_FILE


def write_plan(run_dir: Path, planned: list[Planned]) -> None:
    path = plan_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"trials": [entry.to_dict() for entry in planned]})


def read_plan(run_dir: Path) -> list[Planned]:
    """The planned trials; empty when the run was never treated or the plan is unreadable."""
    try:
        data = json.loads(plan_path(run_dir).read_text(encoding="utf-8"))
        return [Planned.from_dict(entry) for entry in data["trials"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def read_trials(run_dir: Path) -> list[Trial]:
    """Every planned trial that left a record, with what it measured (no verdicts yet)."""
    trials = []
    for entry in read_plan(run_dir):
        folder = Path(run_dir) / TREATMENTS_DIR / entry.folder
        info = read_run_json(folder)
        if info is None:
            continue
        final = info.get("final") if isinstance(info.get("final"), dict) else {}
        findings = read_findings(folder / DIAGNOSIS_FILE)
        trials.append(Trial(
            fix=entry.fix, codes=entry.codes, kind=entry.kind,
            run_dir=f"{TREATMENTS_DIR}/{entry.folder}", status=str(info.get("status", "")),
            test_accuracy=_number(final.get("test_accuracy")),
            first_nan_step=info.get("first_nan_step"),
            errors_after=tuple(str(f.get("code")) for f in findings
                               if f.get("severity") == Severity.ERROR),
            findings_after=tuple(str(f.get("code")) for f in findings)))
    return trials


def trial_findings(run_dir: Path, trials: list[Trial]) -> dict[str, list[dict]]:
    """Each trial's own findings (root cause first, with fixes for the trial's config)."""
    return {trial.run_dir: read_findings(Path(run_dir) / trial.run_dir / DIAGNOSIS_FILE)
            for trial in trials}


def _number(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
