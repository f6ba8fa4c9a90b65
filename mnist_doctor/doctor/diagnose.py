"""The doctor's entry point: run every rule over one run's files and put the root cause first.

Pure rules over what is on disk (docs/run-format.md), no TensorFlow, so `mnist-doctor diagnose`
re-diagnoses old runs in milliseconds. Static rules read the config; per-layer and gradient
rules read the telemetry; outcome and step-size rules read the metrics (and the telemetry when
there is some), so a run without telemetry still gets a diagnosis.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mnist_doctor.config.loader import load_config
from mnist_doctor.config.schema import ExperimentConfig
from mnist_doctor.doctor.evidence import RunData
from mnist_doctor.doctor.findings import Finding
from mnist_doctor.doctor.ranking import escalate, root_cause_order
from mnist_doctor.doctor.rules.gradients import GRADIENT_RULES
from mnist_doctor.doctor.rules.layers import LAYER_RULES
from mnist_doctor.doctor.rules.outcome import OUTCOME_RULES
from mnist_doctor.doctor.rules.static import static_findings
from mnist_doctor.doctor.rules.step_size import STEP_SIZE_RULES
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


def diagnose(config: ExperimentConfig, metrics_df: pd.DataFrame | None,
             telemetry_df: pd.DataFrame | None, run_info: dict | None) -> list[Finding]:
    """All findings for one run, deduplicated, root cause first."""
    run = RunData(config=config, metrics=_metrics_frame(metrics_df),
                  telemetry=_telemetry_frame(telemetry_df), run_info=dict(run_info or {}))
    dynamic = [finding for rule in DYNAMIC_RULES for finding in rule(run)]
    findings = escalate(static_findings(config), dynamic) + dynamic
    unique: dict[str, Finding] = {}
    for finding in root_cause_order(findings):
        unique.setdefault(finding.code, finding)
    return list(unique.values())


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
    """Re-diagnose one run folder from its files (config.yaml is required)."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / CONFIG_FILE)
    return diagnose(config, read_metrics(run_dir / METRICS_FILE),
                    read_telemetry(run_dir / TELEMETRY_FILE), read_run_json(run_dir) or {})


def write_diagnosis(run_dir: Path, findings: list[Finding]) -> Path:
    """diagnosis.json, written atomically so a reader never sees half of it."""
    path = Path(run_dir) / DIAGNOSIS_FILE
    write_json(path, {"findings": [finding.to_dict() for finding in findings]})
    return path
