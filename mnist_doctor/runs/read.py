"""Read run folders back from disk (docs/run-format.md), for reports and plots.

Everything that looks at finished runs goes through here, so it works on old runs, on runs that
crashed half-way, and without TensorFlow. Which folders are runs is `layout.find_run_dirs`'s
one rule. Every file is optional: missing or unreadable ones become empty values (an unreadable
run.json the status `unreadable`), because a report on a broken run is exactly
when a user needs one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mnist_doctor.runs.layout import (
    CONFIG_FILE,
    DIAGNOSIS_FILE,
    METRICS_COLUMNS,
    METRICS_FILE,
    RUN_FILE,
    TELEMETRY_COLUMNS,
    find_run_dirs,
)
from mnist_doctor.vocabulary import RunStatus


@dataclass(frozen=True)
class RunRecord:
    """One run folder's files, parsed. `name` falls back to the folder name."""

    name: str
    run_dir: Path
    run_json: dict[str, Any]
    metrics: pd.DataFrame
    config_text: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    treatment: dict[str, Any] = field(default_factory=dict)  # diagnosis.json's trials, if any

    @property
    def status(self) -> str:
        return str(self.run_json.get("status") or "unknown")

    @property
    def final(self) -> dict[str, Any]:
        final = self.run_json.get("final")
        return final if isinstance(final, dict) else {}


def read_runs(invocation_dir: Path) -> list[RunRecord]:
    """Every run under an invocation folder, in folder-name order."""
    return [read_run(run_dir) for run_dir in find_run_dirs(Path(invocation_dir))]


def read_run(run_dir: Path) -> RunRecord:
    """One run folder. A corrupt run.json (a write cut short) becomes status `unreadable`."""
    run_dir = Path(run_dir)
    run_json = read_run_json(run_dir)
    if run_json is None:
        run_json = {"status": RunStatus.UNREADABLE,
                    "error": f"{RUN_FILE}: missing, or not a readable JSON object"}
    checks = run_json.get("checks")
    return RunRecord(
        name=str(run_json.get("name") or run_dir.name),
        run_dir=run_dir,
        run_json=run_json,
        metrics=read_metrics(run_dir / METRICS_FILE),
        config_text=_read_text(run_dir / CONFIG_FILE),
        findings=read_findings(run_dir / DIAGNOSIS_FILE),
        treatment=read_treatment(run_dir / DIAGNOSIS_FILE),
        checks=[c for c in checks if isinstance(c, dict)] if isinstance(checks, list) else [],
    )


def read_metrics(path: Path) -> pd.DataFrame:
    """metrics.csv as floats; `inf`/`nan` losses stay as such (they are data, not errors)."""
    empty = pd.DataFrame({col: pd.Series(dtype=float) for col in METRICS_COLUMNS})
    if not path.is_file():
        return empty
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return empty
    for col in METRICS_COLUMNS:
        # to_numeric reads "inf"/"-inf"/"nan" strings as floats and turns junk into NaN.
        frame[col] = pd.to_numeric(frame[col], errors="coerce") if col in frame else float("nan")
    return frame.sort_values("step", kind="stable").reset_index(drop=True)


def _read_diagnosis(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_findings(path: Path) -> list[dict[str, Any]]:
    """diagnosis.json's findings, root cause first; empty when absent or unreadable."""
    findings = _read_diagnosis(path).get("findings")
    return [f for f in findings if isinstance(f, dict)] if isinstance(findings, list) else []


def read_treatment(path: Path) -> dict[str, Any]:
    """diagnosis.json's treatment part (root_cause, verdict, best_trial, treatments); empty
    when the run was not treated."""
    data = _read_diagnosis(path)
    if not isinstance(data.get("treatments"), list):
        return {}
    return {key: data.get(key) for key in ("root_cause", "verdict", "best_trial", "treatments")}


def read_run_json(run_dir: Path) -> dict[str, Any] | None:
    """run.json as a dict; None when absent or unreadable (a run killed before writing it)."""
    try:
        data = json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_telemetry(path: Path) -> pd.DataFrame | None:
    """telemetry.csv, or None when the run was trained with --no-doctor."""
    if not Path(path).is_file():
        return None
    try:
        return pd.read_csv(path, dtype={"layer": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame(columns=list(TELEMETRY_COLUMNS))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""
