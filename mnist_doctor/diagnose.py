"""The doctor: run every rule over one run's files and put the root cause first.

Pure rules over what is on disk (docs/run-format.md), no TensorFlow, so `mnist-doctor diagnose`
re-diagnoses old runs in milliseconds. Static rules read the config; dynamic rules read the
telemetry; outcome rules read the metrics, so a run without telemetry still gets a diagnosis.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mnist_doctor.config import ExperimentConfig, load_config
from mnist_doctor.findings import Finding, json_safe, root_cause_order
from mnist_doctor.rules_dynamic import LAYER_RULES, RunData
from mnist_doctor.rules_outcome import OUTCOME_RULES
from mnist_doctor.rules_static import static_findings
from mnist_doctor.run_files import METRIC_COLUMNS, read_metrics, read_run

DYNAMIC_RULES = LAYER_RULES + OUTCOME_RULES
TELEMETRY_COLUMNS = ("step", "layer", "metric", "value")
# Failures each config warning can cause on its own. When a run shows one of them and the
# config has no outright error, the warning is the likely root cause and becomes an error.
EXPLAINS = {
    "unnormalized_input": {"nan_loss", "diverging_loss", "oscillating_loss",
                           "exploding_gradients", "saturated_activations", "dead_relu",
                           "learning_rate_too_high", "stuck_at_chance", "output_collapse",
                           "loss_not_decreasing"},
    "large_init_scale": {"nan_loss", "diverging_loss", "exploding_gradients",
                         "saturated_activations", "dead_relu", "vanishing_gradients",
                         "stuck_at_chance", "output_collapse", "loss_not_decreasing"},
    "constant_init": {"symmetric_units", "zero_gradient", "dead_relu", "stuck_at_chance",
                      "output_collapse", "loss_not_decreasing"},
    "mse_for_classification": {"loss_not_decreasing", "stuck_at_chance", "output_collapse",
                               "vanishing_gradients", "saturated_activations",
                               "learning_rate_too_low"},
}
SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def diagnose(config: ExperimentConfig, metrics_df: pd.DataFrame | None,
             telemetry_df: pd.DataFrame | None, run_info: dict | None) -> list[Finding]:
    """All findings for one run, deduplicated, root cause first."""
    run = RunData(config=config, metrics=_metrics_frame(metrics_df),
                  telemetry=_telemetry_frame(telemetry_df), run_info=dict(run_info or {}))
    dynamic = [finding for rule in DYNAMIC_RULES for finding in rule(run)]
    findings = _escalate(static_findings(config), dynamic) + dynamic
    unique: dict[str, Finding] = {}
    for finding in root_cause_order(findings):
        unique.setdefault(finding.code, finding)
    return list(unique.values())


def _escalate(static: list[Finding], dynamic: list[Finding]) -> list[Finding]:
    """Promote config warnings that explain the run's observed errors (see EXPLAINS)."""
    if any(finding.severity == "error" for finding in static):
        return static
    failures = {finding.code for finding in dynamic if finding.severity == "error"}
    promoted = []
    for finding in static:
        caused = sorted(EXPLAINS.get(finding.code, set()) & failures)
        if finding.severity == "warning" and caused:
            finding = Finding(
                finding.code, "error", layer=finding.layer, step=finding.step,
                evidence={**finding.evidence, "explains": caused},
                message=f"{finding.message} In this run it went wrong: {', '.join(caused)}.",
                fix=finding.fix)
        promoted.append(finding)
    return promoted


def _metrics_frame(metrics: pd.DataFrame | None) -> pd.DataFrame:
    if metrics is None or metrics.empty:
        return pd.DataFrame({col: pd.Series(dtype=float) for col in METRIC_COLUMNS})
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


def read_telemetry(path: Path) -> pd.DataFrame | None:
    """telemetry.csv, or None when the run was trained with --no-doctor."""
    if not Path(path).is_file():
        return None
    try:
        return pd.read_csv(path, dtype={"layer": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame(columns=list(TELEMETRY_COLUMNS))


def diagnose_run_dir(run_dir: Path) -> list[Finding]:
    """Re-diagnose one run folder from its files (config.yaml is required)."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / "config.yaml")
    return diagnose(config, read_metrics(run_dir / "metrics.csv"),
                    read_telemetry(run_dir / "telemetry.csv"), read_run(run_dir).run_json)


def write_diagnosis(run_dir: Path, findings: list[Finding]) -> Path:
    """diagnosis.json, written to a temporary file first so a reader never sees half of it."""
    path = Path(run_dir) / "diagnosis.json"
    tmp = path.with_suffix(".json.tmp")
    payload = {"findings": [finding.to_dict() for finding in findings]}
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def find_run_dirs(path: Path) -> list[Path]:
    """A run folder itself, or the run folders inside an invocation folder (name order)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a folder")
    if _is_run_dir(path):
        return [path]
    return sorted(child for child in path.iterdir() if child.is_dir() and _is_run_dir(child))


def _is_run_dir(path: Path) -> bool:
    return (path / "run.json").is_file() or (path / "config.yaml").is_file()


def findings_renderable(name: str, findings: list[Finding]) -> RenderableType:
    """One run's findings as a table: severity, code and where, then message, fix, numbers."""
    if not findings:
        return Text(f"{name}: no problems found", style="green")
    table = Table(title=name, title_justify="left", show_lines=True, expand=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("finding", no_wrap=True)
    table.add_column("what happened, and the fix", ratio=1)
    for finding in findings:
        where = " ".join(part for part in (finding.layer, None if finding.step is None
                                           else f"step {finding.step}") if part)
        details = Group(
            Text(finding.message),
            Text.assemble(("Fix: ", "bold"), finding.fix),
            Text(_evidence_line(finding.evidence), style="dim"),
        )
        table.add_row(Text(finding.severity, style=SEVERITY_STYLES[finding.severity]),
                      Text(finding.code + (f"\n{where}" if where else "")), details)
    return table


def _rounded(value):
    """Four significant digits are plenty on screen; diagnosis.json keeps full precision."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return float(f"{value:.4g}") if isinstance(value, float) else value


def _evidence_line(evidence: dict, limit: int = 400) -> str:
    text = json.dumps(_rounded(json_safe(evidence)), separators=(", ", ": "))
    return "evidence: " + (text if len(text) <= limit else text[:limit - 3] + "...")

