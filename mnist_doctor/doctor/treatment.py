"""Treatment trials judged: change one thing, rerun, compare, and rank the causes by what cures.

A trial is an ordinary run folder under `<run>/treatments/<fix>/`, trained with the treated
run's seed, data and budget with one fix applied (or a combination of fixes, or the reference
optimiser). This module reads what the trials recorded and turns it into verdicts, a ranking
with evidence and one sentence that names the root cause with the numbers that show it. Pure
Python over recorded numbers: the execution layer runs the trials.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mnist_doctor.doctor.evidence import FAILED_ACCURACY
from mnist_doctor.doctor.findings import Finding, Fix
from mnist_doctor.vocabulary import Code, Severity

# A cured run learns: its test accuracy is at least FAILED_ACCURACY (0.5), the line below which
# the doctor calls any MNIST run failed; even a linear model passes it within a few hundred steps.
CURE_MIN_ACCURACY = FAILED_ACCURACY
# ... and it comes within 2 points of the best trial: on 10,000 test images, seeds of one
# config differ by about a point, so a bigger gap means another fix does clearly better.
CURE_NEAR_BEST = 0.02
# A change in test accuracy of 2 points or more counts as an effect (helps or worse).
EFFECT = 0.02
# A reference trial (Adam at 0.001, all else equal) that cuts the run's test error at least in
# half and gains 2 points or more shows the run stays far below what its architecture reaches.
REFERENCE_ERROR_RATIO = 0.5
# Second-round trials when nothing cures: each builds on one first-round trial.
MAX_FOLLOW_UPS = 2

CURES, HELPS, NO_EFFECT, WORSE = "cures", "helps", "no effect", "worse"
SINGLE, COMBINED, REFERENCE = "single", "combined", "reference"


@dataclass(frozen=True)
class Trial:
    """One recorded trial: the fix it applied, for which findings, and what it measured."""

    fix: Fix
    codes: tuple[str, ...]
    kind: str = SINGLE
    run_dir: str = ""
    status: str = ""
    test_accuracy: float | None = None
    first_nan_step: int | None = None
    errors_after: tuple[str, ...] = ()
    findings_after: tuple[str, ...] = ()
    verdict: str = ""

    @property
    def nan(self) -> bool:
        return self.first_nan_step is not None

    def to_dict(self, before: float | None) -> dict:
        return {"fix": self.fix.name, "kind": self.kind, "codes": list(self.codes),
                "changes": self.fix.to_dict()["changes"], "summary": self.fix.summary,
                "run_dir": self.run_dir, "status": self.status,
                "test_accuracy_before": before, "test_accuracy_after": self.test_accuracy,
                "first_nan_step": self.first_nan_step, "findings_after": list(self.findings_after),
                "errors_after": list(self.errors_after), "verdict": self.verdict}


@dataclass(frozen=True)
class Before:
    """The treated run as the user saw it."""

    test_accuracy: float | None
    nan: bool


@dataclass
class Verdicts:
    """Every trial with its verdict, the root cause they support, and the sentence saying so."""

    trials: list[Trial] = field(default_factory=list)
    root_cause: list[str] = field(default_factory=list)
    sentence: str = ""
    best: Trial | None = None

    @property
    def cured(self) -> bool:
        return self.best is not None and self.best.verdict == CURES


def _delta(trial: Trial, before: Before) -> float:
    return (trial.test_accuracy or 0.0) - (before.test_accuracy or 0.0)


def judge(trials: list[Trial], before: Before) -> list[Trial]:
    """A verdict for each trial (see the constants above for what each threshold means)."""
    measured = [t.test_accuracy for t in trials if t.test_accuracy is not None and not t.nan]
    best = max(measured, default=None)
    judged = []
    for trial in trials:
        delta = _delta(trial, before)
        if (trial.test_accuracy is not None and not trial.nan and not trial.errors_after
                and trial.test_accuracy >= CURE_MIN_ACCURACY
                and best is not None and trial.test_accuracy >= best - CURE_NEAR_BEST):
            verdict = CURES
        elif (trial.nan and not before.nan) or delta <= -EFFECT:
            verdict = WORSE
        elif delta >= EFFECT or (before.nan and not trial.nan and trial.test_accuracy):
            verdict = HELPS
        else:
            verdict = NO_EFFECT
        judged.append(replace(trial, verdict=verdict))
    return judged


def combination(findings: list[Finding], trials: list[Trial],
                before: Before) -> list[tuple[str, Fix]]:
    """When no single fix cures: the most helpful fix of each finding (named by the first
    finding, in the doctor's order, that proposed it; errors before warnings), largest effect
    first, at most three; empty when fewer than two distinct fixes are worth combining."""
    best_per_code: dict[str, tuple[bool, float, Fix]] = {}
    for finding in findings:
        if finding.severity == Severity.INFO:
            continue
        tried = [t for t in trials if finding.code in t.codes and t.kind == SINGLE
                 and t.verdict != WORSE]
        if tried:
            top = max(tried, key=lambda t: _delta(t, before))
            best_per_code.setdefault(finding.code, (finding.severity != Severity.ERROR,
                                                    _delta(top, before), top.fix))
    chosen: list[tuple[str, Fix]] = []
    ordered = sorted(best_per_code.items(), key=lambda item: (item[1][0],
                                                              -round(item[1][1] / EFFECT)))
    for code, (_, _, fix) in ordered:
        if all(fix.changes != other.changes for _, other in chosen):
            chosen.append((code, fix))
    return chosen[:3] if len(chosen) >= 2 else []


def follow_ups(trials: list[Trial], before: Before,
               findings_after: dict[str, list[dict]]) -> list[tuple[tuple[str, ...], Fix]]:
    """When no single fix cures, a fix may have removed its own problem and uncovered the next
    (a random init that lets a naive log loss reach log(0)). The trials that cleared the errors
    they targeted, then the most helpful, are each combined with the first fix of the first
    error their own re-diagnosis shows (fixes computed on the trial's config, so a step
    divided by 10 there is divided by 100 here). At most MAX_FOLLOW_UPS."""
    singles = [t for t in trials if t.kind == SINGLE]
    ranked = sorted(singles, key=lambda t: (not set(t.codes) & set(t.errors_after),
                                            _delta(t, before)), reverse=True)
    found: list[tuple[tuple[str, ...], Fix]] = []
    for trial in ranked:
        for finding in findings_after.get(trial.run_dir, []):
            fixes = [Fix.from_dict(f) for f in finding.get("fixes") or []]
            fix = next((f for f in fixes if not f.changes.items() <= trial.fix.changes.items()),
                       None) if finding.get("severity") == Severity.ERROR else None
            if fix is not None:
                merged = Fix(f"{trial.fix.name}+{fix.name}", {**trial.fix.changes, **fix.changes},
                             f"{trial.fix.summary}, then {fix.summary}")
                if all(merged.changes != other.changes for _, other in found):
                    found.append(((trial.codes[0], str(finding.get("code"))), merged))
                break
        if len(found) == MAX_FOLLOW_UPS:
            break
    return found


def combined_fix(fixes: list[Fix]) -> Fix:
    changes: dict = {}
    for fix in fixes:
        changes.update(fix.changes)
    return Fix("+".join(fix.name for fix in fixes), changes,
               " and ".join(fix.summary for fix in fixes))


def rank(findings: list[Finding], verdicts: Verdicts, before: Before) -> list[Finding]:
    """Findings whose fix alone cures first (largest effect first), then those whose fixes
    cure together, then the rest in the rule-based order they came in. A tried finding gets
    its trials' before/after in its evidence; a curing one becomes an error."""
    by_code = {code: [t for t in verdicts.trials if code in t.codes] for code in
               {f.code for f in findings}}
    combined_codes = {code for t in verdicts.trials if t.kind == COMBINED and t.verdict == CURES
                      for code in t.codes}

    def group(finding: Finding) -> tuple[int, int]:
        singles = [t for t in by_code[finding.code] if t.kind != COMBINED]
        # effects closer than EFFECT are seed noise: a tie, left to the rule-based order
        effect = int(max((_delta(t, before) for t in singles), default=0.0) // EFFECT)
        if any(t.verdict == CURES for t in singles):
            return 0, -effect
        return (1, -effect) if finding.code in combined_codes else (2, 0)

    ranked = []
    for _, finding in sorted(enumerate(findings), key=lambda p: (*group(p[1]), p[0])):
        ranked.append(_with_trials(finding, by_code[finding.code], before, group(finding)[0]))
    combined = [t for t in verdicts.trials if t.kind == COMBINED and t.verdict == CURES]
    verdicts.root_cause = [f.code for f in ranked if group(f)[0] == 0][:1] or list(
        max(combined, key=lambda t: t.test_accuracy or 0.0).codes if combined else ())
    return ranked


def _with_trials(finding: Finding, trials: list[Trial], before: Before, group: int) -> Finding:
    if not trials:
        return finding
    evidence = {**finding.evidence, "trials": [
        {"fix": t.fix.name, "before": before.test_accuracy, "after": t.test_accuracy,
         "nan": t.nan, "verdict": t.verdict} for t in trials]}
    severity = Severity.ERROR if group < 2 else finding.severity
    return replace(finding, severity=severity, evidence=evidence)


def reference_finding(config_optimizer: str, momentum: float, reference: Trial,
                      before: Before) -> Finding | None:
    """A run that stays far below what the same net reaches with Adam at 0.001: plain
    gradient descent too slow for the budget, or (another optimiser) simply underperforming."""
    if reference.test_accuracy is None or reference.nan or before.test_accuracy is None:
        return None
    error_before, error_after = 1 - before.test_accuracy, 1 - reference.test_accuracy
    if not (error_after <= REFERENCE_ERROR_RATIO * error_before
            and reference.test_accuracy - before.test_accuracy >= EFFECT):
        return None
    plain = config_optimizer == "sgd" and not momentum
    code = Code.SLOW_PLAIN_GRADIENT_DESCENT if plain else Code.UNDERPERFORMING
    what = "Plain gradient descent" if plain else f"Training with {config_optimizer}"
    return Finding(
        code, Severity.ERROR, step=None, fixes=(reference.fix,),
        evidence={"test_accuracy": before.test_accuracy,
                  "reference_test_accuracy": reference.test_accuracy,
                  "reference": reference.fix.summary,
                  "error_ratio": round(error_after / error_before, 4) if error_before else None},
        message=(f"{what} reaches {before.test_accuracy:.4f} in this budget; the same net, "
                 f"data and steps with {reference.fix.summary} reach "
                 f"{reference.test_accuracy:.4f}, cutting the test error from "
                 f"{error_before:.1%} to {error_after:.1%}. The architecture is fine: the "
                 "optimiser is what holds it back."),
        fix="Train with Adam (learning rate 0.001), or SGD with momentum 0.9 and a tuned step.")


def implied_causes(findings: list[Finding], trials: list[Trial],
                   learning_rate: float) -> tuple[list[Finding], list[Trial]]:
    """A trial that cures by changing the learning rate alone, where no other single fix
    cures, shows the step size was the cause, even when the rules saw only its mechanism
    (dead units, saturation, overflow): add that cause as a finding, backed by the trial, and
    credit the trial to it. When another fix cures as well, the step is not singled out."""
    cures = [t for t in trials if t.kind == SINGLE and t.verdict == CURES]
    if len(cures) != 1:
        return findings, trials
    known = {finding.code for finding in findings}
    added, credited = [], []
    for trial in trials:
        rate = trial.fix.changes.get("optimizer.learning_rate")
        if trial.kind != SINGLE or trial.verdict != CURES or set(trial.fix.changes) != {
                "optimizer.learning_rate"}:
            credited.append(trial)
            continue
        code = Code.LEARNING_RATE_TOO_HIGH if rate < learning_rate else Code.LEARNING_RATE_TOO_LOW
        if code not in known:
            known.add(code)
            added.append(Finding(
                code, Severity.ERROR, fixes=(trial.fix,),
                evidence={"learning_rate": learning_rate, "trial_learning_rate": rate,
                          "trial": trial.run_dir},
                message=(f"The rules saw only the effects, but a trial settles it: "
                         f"{trial.fix.summary} alone takes the run to "
                         f"{trial.test_accuracy:.4f}, so the step size {learning_rate:g} is "
                         "what made it fail."),
                fix=f"Set optimizer.learning_rate: {rate:g}."))
        credited.append(replace(trial, codes=(*trial.codes, code)) if code not in trial.codes
                        else trial)
    return added + findings, credited
