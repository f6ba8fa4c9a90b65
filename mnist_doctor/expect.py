"""Expectations: the `expect:` block of a config, and the checks it yields for one finished run.

A forum reproduction or a CI sweep states what a run must show (an accuracy range, whether the
loss goes non-finite, which diagnosis codes must or must not appear); after the run, each clause
becomes one `Check` with a verdict and a sentence that spells out the measured number, so a
failing build says *what* drifted, not just that something did. Pure Python, no TensorFlow.

Metric names are the final numbers of run.json (`final_loss` is the final test loss, the number
the forum threads print). The diagnosis vocabulary is `mnist_doctor.findings.CODES`; it is
imported lazily so a config loads even while the doctor's rules are being edited.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# metric name -> (where it lives in run.json, key); `final_loss` is the forum threads' number.
METRICS = {
    "test_accuracy": ("final", "test_accuracy"),
    "train_accuracy": ("final", "train_accuracy"),
    "best_test_accuracy": ("final", "best_test_accuracy"),
    "final_loss": ("final", "test_loss"),
    "test_loss": ("final", "test_loss"),
    "train_loss": ("final", "train_loss"),
    "wall_seconds": (None, "wall_seconds"),
}
CODE_KEYS = ("diagnosis", "no_diagnosis")
EXPECT_KEYS = (*METRICS, "nan", *CODE_KEYS)
BOUND_KEYS = ("min", "max")


@dataclass(frozen=True)
class Bound:
    """An inclusive range for one final metric; either end may be open."""

    metric: str
    min: float | None = None
    max: float | None = None

    @property
    def clause(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.metric} in [{self.min:g}, {self.max:g}]"
        if self.min is not None:
            return f"{self.metric} >= {self.min:g}"
        return f"{self.metric} <= {self.max:g}"


@dataclass(frozen=True)
class Expect:
    """A parsed `expect:` block. `nan` None means "either way"."""

    bounds: tuple[Bound, ...] = ()
    nan: bool | None = None
    diagnosis: tuple[str, ...] = ()
    no_diagnosis: tuple[str, ...] = ()

    def to_yaml(self) -> dict:
        """The block as a user writes it, so the resolved config.yaml loads back unchanged."""
        out: dict[str, Any] = {}
        for bound in self.bounds:
            out[bound.metric] = {k: getattr(bound, k) for k in BOUND_KEYS
                                 if getattr(bound, k) is not None}
        if self.nan is not None:
            out["nan"] = self.nan
        for key in CODE_KEYS:
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        return out


@dataclass(frozen=True)
class Check:
    """One evaluated clause: what was expected, whether it held, and the measured evidence."""

    clause: str
    passed: bool
    detail: str

    def to_dict(self) -> dict:
        return {"clause": self.clause, "passed": self.passed, "detail": self.detail}


# -- parsing ---------------------------------------------------------------------------------
Problem = Callable[[str, str], None]


def _suggest(word: Any, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def diagnosis_codes() -> tuple[str, ...]:
    """The doctor's vocabulary; owned by findings.py, the single source of the codes."""
    from mnist_doctor.findings import CODES

    return tuple(CODES)


def parse_expect(raw: Any, problem: Problem, key: str = "expect") -> Expect | None:
    """Validate an `expect:` mapping; report each problem as (dotted key, message)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        problem(key, "expected a mapping of clauses (e.g. test_accuracy: {min: 0.9}, nan: false,"
                     f" diagnosis: [code]), got {raw!r}")
        return None
    bounds: list[Bound] = []
    for name in raw:
        if name not in EXPECT_KEYS:
            problem(f"{key}.{name}", f"unknown metric{_suggest(name, EXPECT_KEYS)}; allowed: "
                                     f"{', '.join(EXPECT_KEYS)}")
        elif name in METRICS:
            bound = _parse_bound(name, raw[name], problem, f"{key}.{name}")
            bounds.extend([bound] if bound else [])
    nan = raw.get("nan")
    if nan is not None and not isinstance(nan, bool):
        problem(f"{key}.nan", f"expected true or false, got {nan!r}")
        nan = None
    codes = {k: _parse_codes(raw.get(k), problem, f"{key}.{k}") for k in CODE_KEYS}
    for code in sorted(set(codes["diagnosis"]) & set(codes["no_diagnosis"])):
        problem(f"{key}.no_diagnosis", f"{code!r} is also listed under {key}.diagnosis")
    return Expect(bounds=tuple(bounds), nan=nan, **codes)


def _parse_bound(metric: str, raw: Any, problem: Problem, key: str) -> Bound | None:
    if not isinstance(raw, dict) or not raw:
        problem(key, f"expected {{min: A, max: B}} (either may be left out), got {raw!r}")
        return None
    values: dict[str, float] = {}
    for name, value in raw.items():
        if name not in BOUND_KEYS:
            problem(f"{key}.{name}", f"unknown key{_suggest(name, BOUND_KEYS)}; allowed: min, max")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            problem(f"{key}.{name}", f"expected a number, got {value!r}")
        else:
            values[name] = float(value)
    if "min" in values and "max" in values and values["min"] > values["max"]:
        problem(key, f"min {values['min']:g} is above max {values['max']:g}")
        return None
    return Bound(metric, values.get("min"), values.get("max")) if values else None


def _parse_codes(raw: Any, problem: Problem, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problem(key, f"expected a list of diagnosis codes, got {raw!r}")
        return ()
    known = diagnosis_codes()
    codes = []
    for index, code in enumerate(raw):
        if code not in known:
            problem(f"{key}[{index}]", f"unknown diagnosis code {code!r}"
                                       f"{_suggest(code, known)}; allowed: {', '.join(known)}")
        elif code not in codes:
            codes.append(code)
    return tuple(codes)


# -- evaluation ------------------------------------------------------------------------------
def evaluate_expectations(expect: Expect, run_info: dict, findings: list) -> list[Check]:
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
    return checks


def check_run(expect: Expect, run_info: dict, run_dir: Path) -> list[dict]:
    """The checks of one finished run folder, as run.json stores them under "checks".

    Findings come from the diagnosis.json just written (none if the doctor failed, which then
    shows up as a failing `diagnosis:` check rather than a crash).
    """
    from mnist_doctor.run_files import read_findings

    findings = read_findings(Path(run_dir) / "diagnosis.json")
    return [check.to_dict() for check in evaluate_expectations(expect, run_info, findings)]


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
    hit = step is not None or run_info.get("status") == "diverged"
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
