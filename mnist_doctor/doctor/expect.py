"""Expectations evaluated: each clause of a config's `expect:` block against one finished run.

After the run, each clause becomes one `Check` with a verdict and a sentence that spells out the
measured number, so a failing build says *what* drifted, not just that something did. Reads
run.json's fields and the run's findings; pure Python, no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_doctor.config.expect import METRICS, Bound, Expect
from mnist_doctor.runs.layout import DIAGNOSIS_FILE
from mnist_doctor.runs.read import read_findings, read_treatment
from mnist_doctor.vocabulary import RunStatus


@dataclass(frozen=True)
class Check:
    """One evaluated clause: what was expected, whether it held, and the measured evidence."""

    clause: str
    passed: bool
    detail: str

    def to_dict(self) -> dict:
        return {"clause": self.clause, "passed": self.passed, "detail": self.detail}



def evaluate_expectations(expect: Expect, run_info: dict, findings: list,
                          trials: list[dict] | None = None) -> list[Check]:
    """One Check per clause of `expect`, from run.json's fields and the run's findings.

    `run_info` is the run.json mapping (non-finite numbers may be floats or the strings
    'nan'/'inf'); `findings` are `Finding`s or their dicts from diagnosis.json.
    """
    checks = [_check_bound(bound, run_info) for bound in expect.bounds]
    if expect.nan is not None:
        checks.append(_check_nan(expect.nan, run_info))
    found = [_code_of(finding) for finding in findings]
    checks += [_check_present(code, found) for code in expect.diagnosis]
    checks += [_check_absent(code, found) for code in expect.no_diagnosis]
    if expect.root_cause is not None:
        checks.append(_check_root_cause(expect.root_cause, found))
    checks += [_check_cured(code, trials or []) for code in expect.cured_by]
    return checks


def _check_root_cause(code: str, found: list[str]) -> Check:
    first = found[0] if found else "none"
    return Check(f"root_cause: {code}", first == code, f"first finding {first}")


def _check_cured(code: str, trials: list[dict]) -> Check:
    clause = f"cured_by: {code}"
    if not trials:
        return Check(clause, False, "no treatment trials ran (run with --treat)")
    cures = [t for t in trials if t.get("verdict") == "cures" and code in (t.get("codes") or [])]
    if cures:
        return Check(clause, True, f"{cures[0].get('fix')} cures: test accuracy "
                     f"{_number(float(cures[0].get('test_accuracy_after') or 0.0))}")
    tried = [t for t in trials if code in (t.get("codes") or [])]
    detail = ", ".join(f"{t.get('fix')}: {t.get('verdict')}" for t in tried) or "never tried"
    return Check(clause, False, f"no trial of {code}'s fix cures ({detail})")


def check_run(expect: Expect, run_info: dict, run_dir: Path) -> list[dict]:
    """The checks of one finished run folder, as run.json stores them under "checks".

    Findings come from the diagnosis.json just written (none if the doctor failed, which then
    shows up as a failing `diagnosis:` check rather than a crash).
    """
    findings = read_findings(Path(run_dir) / DIAGNOSIS_FILE)
    trials = read_treatment(Path(run_dir) / DIAGNOSIS_FILE).get("treatments")
    return [check.to_dict()
            for check in evaluate_expectations(expect, run_info, findings, trials)]


def metric_value(run_info: dict, metric: str) -> float | None:
    """A final metric as a float (nan/inf included), or None when the run never measured it."""
    section, key = METRICS[metric]
    source = run_info.get(section) if section else run_info
    value = source.get(key) if isinstance(source, dict) else None
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _check_bound(bound: Bound, run_info: dict) -> Check:
    value = metric_value(run_info, bound.metric)
    if value is None:
        status = run_info.get("status") or "unknown"
        return Check(bound.clause, False, f"{bound.metric} not measured (run {status})")
    shown = _number(value)
    if math.isnan(value):
        return Check(bound.clause, False, f"{bound.metric} is nan, not {bound.clause}")
    if bound.min is not None and value < bound.min:
        return Check(bound.clause, False, f"{bound.metric} {shown} < min {bound.min:g}")
    if bound.max is not None and value > bound.max:
        return Check(bound.clause, False, f"{bound.metric} {shown} > max {bound.max:g}")
    return Check(bound.clause, True, f"{bound.metric} {shown}")


def _check_nan(expected: bool, run_info: dict) -> Check:
    step = run_info.get("first_nan_step")
    hit = step is not None or run_info.get("status") == RunStatus.DIVERGED
    clause = f"nan: {'true' if expected else 'false'}"
    if hit:
        detail = f"non-finite loss at step {step}" if step is not None else "run diverged"
    else:
        steps = run_info.get("steps_completed")
        detail = "no non-finite loss" + (f" in {steps} steps" if steps is not None else "")
    return Check(clause, hit == expected, detail)


def _check_present(code: str, found: list[str]) -> Check:
    if code in found:
        return Check(f"diagnosis: {code}", True, f"{code} found")
    others = ", ".join(found) if found else "none"
    return Check(f"diagnosis: {code}", False, f"{code} not among the findings (found: {others})")


def _check_absent(code: str, found: list[str]) -> Check:
    if code in found:
        return Check(f"no_diagnosis: {code}", False, f"{code} found, expected absent")
    return Check(f"no_diagnosis: {code}", True, f"{code} absent")


def _code_of(finding: Any) -> str:
    return str(finding.get("code") if isinstance(finding, dict) else getattr(finding, "code", ""))


def _number(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else str(value)
