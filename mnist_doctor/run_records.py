"""Summary rows for runs that cannot hand one back themselves.

A resumed sweep keeps its recorded runs without retraining them, a worker process can die
(OOM killer, segfault, a lost Ray node) and a cancelled Ray task returns nothing. Each still
needs its summary row, and its folder should say what happened. The row then comes from the
run's own files (run.json, diagnosis.json), the same files every report reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from mnist_doctor.config import ExperimentConfig, safe_name
from mnist_doctor.runner import summary_row  # one definition of a row, whoever writes it
from mnist_doctor.runs import now_iso, write_atomic

RECORDED = ("completed", "diverged")  # outcomes of training; the rest did not finish


def read_run_json(folder: Path) -> dict | None:
    """run.json as a dict; None when absent or unreadable (a partial run)."""
    try:
        info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def row_from_folder(folder: Path, invocation_dir: Path) -> dict | None:
    """The summary row a run wrote (or would have written), rebuilt from its folder."""
    info = read_run_json(folder)
    if info is None:
        return None
    info.setdefault("name", folder.name)
    info.setdefault("status", "failed")
    return summary_row(info, folder, invocation_dir, _top_finding(folder))


def _top_finding(folder: Path) -> str:
    if (folder / "diagnosis_error.txt").is_file():
        return "doctor-error"
    try:
        findings = json.loads((folder / "diagnosis.json").read_text(encoding="utf-8"))["findings"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return str(findings[0].get("code", "")) if findings else ""


def record_lost(config: ExperimentConfig, invocation_dir: Path, status: str,
                message: str) -> dict:
    """A run whose process vanished: mark its folder (if it got one) and return its row.

    The folder keeps its partial metrics.csv; its run.json, written only now, says the run did
    not finish, so `--resume` reruns it and reports do not take it for a result.
    """
    folder = invocation_dir / safe_name(config.name)
    info = read_run_json(folder) if folder.is_dir() else None
    if info is not None and info.get("status") not in (None, "running"):
        return row_from_folder(folder, invocation_dir)
    info = {"name": config.name, "status": status, "seed": config.seed,
            "config_hash": config.config_hash(), "config_path": config.path,
            "started_at": (info or {}).get("started_at"), "recorded_at": now_iso(),
            "final": {}, "error": message}
    if folder.is_dir():
        write_atomic(folder / "run.json", json.dumps(info, indent=2) + "\n")
    return summary_row(info, folder, invocation_dir, "")
