"""The doctor's entry point: run every rule over one run's files and put the root cause first.

Pure rules over what is on disk (docs/run-format.md), no TensorFlow, so `mnist-doctor diagnose`
re-diagnoses old runs in milliseconds. Static rules read the config; per-layer and gradient
rules read the telemetry; outcome and step-size rules read the metrics (and the telemetry when
there is some), so a run without telemetry still gets a diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from mnist_doctor.config.loader import load_config
from mnist_doctor.config.schema import ExperimentConfig
from mnist_doctor.doctor.evidence import RunData
from mnist_doctor.doctor.findings import Finding
from mnist_doctor.doctor.fixes import with_fixes
from mnist_doctor.doctor.ranking import escalate, root_cause_order
from mnist_doctor.doctor.rules.gradients import GRADIENT_RULES
from mnist_doctor.doctor.rules.layers import LAYER_RULES
from mnist_doctor.doctor.rules.outcome import OUTCOME_RULES
from mnist_doctor.doctor.rules.static import static_findings
from mnist_doctor.doctor.rules.step_size import STEP_SIZE_RULES
from mnist_doctor.doctor.treatment import (
    CURES,
    EFFECT,
    HELPS,
    NO_EFFECT,
    REFERENCE,
    Before,
    Trial,
    Verdicts,
    implied_causes,
    judge,
    rank,
    reference_finding,
)
from mnist_doctor.doctor.trials import read_trials
from mnist_doctor.doctor.verdict import sentence
from mnist_doctor.runs.folder import write_json
from mnist_doctor.runs.layout import (
    CONFIG_FILE,
    DIAGNOSIS_FILE,
    METRICS_COLUMNS,
    METRICS_FILE,
    TELEMETRY_FILE,
)
from mnist_doctor.runs.read import read_metrics, read_run_json, read_telemetry

DYNAMIC_RULES = LAYER_RULES + GRADIENT_RULES + STEP_SIZE_RULES + OUTCOME_RULES


@dataclass
class Diagnosis:
    """A run's findings, root cause first, and the treatment trials behind that order if any."""

    findings: list[Finding]
    verdicts: Verdicts | None = None
    before: Before | None = None

    def to_dict(self) -> dict:
        out: dict = {"findings": [finding.to_dict() for finding in self.findings]}
        if self.verdicts is not None and self.before is not None:
            best = self.verdicts.best
            out.update(
                root_cause=self.verdicts.root_cause, verdict=self.verdicts.sentence,
                best_trial=best.fix.name if best is not None and best.verdict == CURES else None,
                treatments=[trial.to_dict(self.before.test_accuracy)
                            for trial in self.verdicts.trials])
        return out


def diagnose(config: ExperimentConfig, metrics_df: pd.DataFrame | None,
             telemetry_df: pd.DataFrame | None, run_info: dict | None) -> list[Finding]:
    """All findings for one run, deduplicated, in the rule-based order (root cause first as
    far as rules can tell), each with its fixes as config changes."""
    run = RunData(config=config, metrics=_metrics_frame(metrics_df),
                  telemetry=_telemetry_frame(telemetry_df), run_info=dict(run_info or {}))
    dynamic = [finding for rule in DYNAMIC_RULES for finding in rule(run)]
    findings = escalate(static_findings(config), dynamic) + dynamic
    unique: dict[str, Finding] = {}
    for finding in root_cause_order(findings):
        unique.setdefault(finding.code, finding)
    return [with_fixes(finding, config) for finding in unique.values()]


def _metrics_frame(metrics: pd.DataFrame | None) -> pd.DataFrame:
    if metrics is None or metrics.empty:
        return pd.DataFrame({col: pd.Series(dtype=float) for col in METRICS_COLUMNS})
    return metrics.sort_values("step", kind="stable").reset_index(drop=True)


def _telemetry_frame(telemetry: pd.DataFrame | None) -> pd.DataFrame | None:
    """Empty layer cells (whole-model rows) as '', values as floats (inf/nan are data)."""
    if telemetry is None:
        return None
    frame = telemetry.copy()
    frame["layer"] = frame["layer"].fillna("").astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame["step"] = pd.to_numeric(frame["step"], errors="coerce")
    return frame.dropna(subset=["step"]).astype({"step": int})


def diagnose_run_dir(run_dir: Path) -> list[Finding]:
    """Re-diagnose one run folder from its files (config.yaml is required); with treatment
    trials on disk, ranked by what they cured."""
    return full_diagnosis(run_dir).findings


def full_diagnosis(run_dir: Path) -> Diagnosis:
    """The findings of one run folder and, when it was treated, the verdicts of its trials."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / CONFIG_FILE)
    info = read_run_json(run_dir) or {}
    findings = diagnose(config, read_metrics(run_dir / METRICS_FILE),
                        read_telemetry(run_dir / TELEMETRY_FILE), info)
    trials = read_trials(run_dir)
    return apply_trials(findings, trials, config, info) if trials else Diagnosis(findings)


def apply_trials(findings: list[Finding], trials: list[Trial], config: ExperimentConfig,
                 info: dict) -> Diagnosis:
    """Judge the trials, add what the reference trial shows, and rank by what cured."""
    final = info.get("final") if isinstance(info.get("final"), dict) else {}
    accuracy = final.get("test_accuracy")
    before = Before(float(accuracy) if accuracy is not None else None,
                    info.get("first_nan_step") is not None)
    judged = judge(trials, before)
    for index, trial in enumerate(judged):
        if trial.kind != REFERENCE:
            continue
        found = reference_finding(config.optimizer.name, config.optimizer.momentum, trial, before)
        if found is None:  # the run is as good as its architecture gets: nothing is cured
            delta = (trial.test_accuracy or 0.0) - (before.test_accuracy or 0.0)
            judged[index] = replace(trial, verdict=HELPS if delta >= EFFECT else NO_EFFECT)
        else:
            findings = [found, *findings]
            judged[index] = replace(trial, codes=(found.code,))
    findings, judged = implied_causes(findings, judged, config.optimizer.learning_rate)
    verdicts = Verdicts(trials=judged)
    ranked = rank(findings, verdicts, before)
    cures = [trial for trial in judged if trial.verdict == CURES]
    own = [trial for trial in cures if set(trial.codes) & set(verdicts.root_cause)]
    # the root cause's own cure, else the most accurate: every cure is within noise of the best
    verdicts.best = max(own or cures, key=lambda trial: trial.test_accuracy or 0.0, default=None)
    verdicts.sentence = sentence(verdicts, before)
    return Diagnosis(ranked, verdicts, before)


def write_diagnosis(run_dir: Path, diagnosis: Diagnosis | list[Finding]) -> Path:
    """diagnosis.json, written atomically so a reader never sees half of it."""
    if not isinstance(diagnosis, Diagnosis):
        diagnosis = Diagnosis(list(diagnosis))
    path = Path(run_dir) / DIAGNOSIS_FILE
    write_json(path, diagnosis.to_dict())
    return path
