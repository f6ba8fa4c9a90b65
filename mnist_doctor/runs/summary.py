"""summary.csv: one row per run of an invocation, and the row of a run rebuilt from its folder.

A resumed sweep keeps its recorded runs without retraining them, a worker process can die (OOM
killer, segfault, a lost Ray node) and a cancelled Ray task returns nothing. Each still needs
its row, and its folder should say what happened; the row then comes from the run's own files,
the same files every report reads. One `summary_row` defines a row, whoever writes it.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from mnist_doctor.config.schema import ExperimentConfig, safe_name
from mnist_doctor.runs.folder import now_iso, write_atomic, write_json
from mnist_doctor.runs.layout import (
    DIAGNOSIS_ERROR_FILE,
    DIAGNOSIS_FILE,
    RUN_FILE,
    SUMMARY_COLUMNS,
    SUMMARY_FILE,
)
from mnist_doctor.runs.read import read_findings, read_run_json
from mnist_doctor.vocabulary import RunStatus

DOCTOR_ERROR = "doctor-error"  # the Diagnosis cell of a run the doctor itself failed on


def summary_row(info: dict, run_dir: Path, invocation_dir: Path, diagnosis: str) -> dict:
    final = info.get("final") or {}
    return {"name": info["name"], "status": info["status"],
            "train_accuracy": final.get("train_accuracy"),
            "test_accuracy": final.get("test_accuracy"),
            "train_loss": final.get("train_loss"), "test_loss": final.get("test_loss"),
            "best_test_accuracy": final.get("best_test_accuracy"),
            "first_nan_step": info.get("first_nan_step"),
            "first_nan_epoch": info.get("first_nan_epoch"),
            "wall_seconds": info.get("wall_seconds"), "diagnosis": diagnosis,
            "run_dir": str(run_dir.relative_to(invocation_dir)),
            "backend": info.get("backend"), "device": info.get("device")}


def write_summary(invocation_dir: Path, rows: list[dict]) -> Path:
    """summary.csv: one row per run, in the order the runs were given."""
    path = invocation_dir / SUMMARY_FILE
    lines = [",".join(SUMMARY_COLUMNS)]
    for row in rows:
        lines.append(",".join(_csv_cell(row.get(column)) for column in SUMMARY_COLUMNS))
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def read_summary(invocation_dir: Path) -> list[dict]:
    """summary.csv rows, each with the top finding's severity from its diagnosis.json."""
    path = invocation_dir / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{invocation_dir}: no summary.csv (is this an invocation folder "
                                "written by `mnist-doctor run`?)")
    with path.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        row["diagnosis_severity"] = top_severity(invocation_dir / row.get("run_dir", ""))
    return rows


def refresh_diagnosis_cells(invocation_dir: Path) -> None:
    """Rewrite summary.csv's Diagnosis cells from each run's diagnosis.json (after treatment
    trials re-ranked a run's findings); nothing to do without a summary.csv."""
    path = Path(invocation_dir) / SUMMARY_FILE
    if not path.is_file():
        return
    with path.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        row["diagnosis"] = _top_finding(Path(invocation_dir) / row.get("run_dir", "")) \
            or row.get("diagnosis", "")
    write_summary(Path(invocation_dir), rows)


def top_severity(run_dir: Path) -> str:
    """The severity of a run's first finding; '' when it has none or none can be read."""
    findings = read_findings(run_dir / DIAGNOSIS_FILE)
    return str(findings[0].get("severity", "")) if findings else ""


def row_from_folder(folder: Path, invocation_dir: Path) -> dict | None:
    """The summary row a run wrote (or would have written), rebuilt from its folder."""
    info = read_run_json(folder)
    if info is None:
        return None
    info.setdefault("name", folder.name)
    info.setdefault("status", RunStatus.FAILED)
    return summary_row(info, folder, invocation_dir, _top_finding(folder))


def _top_finding(folder: Path) -> str:
    if (folder / DIAGNOSIS_ERROR_FILE).is_file():
        return DOCTOR_ERROR
    findings = read_findings(folder / DIAGNOSIS_FILE)
    return str(findings[0].get("code", "")) if findings else ""


def record_lost(config: ExperimentConfig, invocation_dir: Path, status: str,
                message: str) -> dict:
    """A run whose process vanished: mark its folder (if it got one) and return its row.

    The folder keeps its partial metrics.csv; its run.json, written only now, says the run did
    not finish, so `--resume` reruns it and reports do not take it for a result.
    """
    folder = invocation_dir / safe_name(config.name)
    info = read_run_json(folder) if folder.is_dir() else None
    if info is not None and info.get("status") not in (None, RunStatus.RUNNING):
        return row_from_folder(folder, invocation_dir)
    info = {"name": config.name, "status": status, "seed": config.seed,
            "config_hash": config.config_hash(), "config_path": config.path,
            "started_at": (info or {}).get("started_at"), "recorded_at": now_iso(),
            "final": {}, "error": message}
    if folder.is_dir():
        write_json(folder / RUN_FILE, info)
    return summary_row(info, folder, invocation_dir, "")
