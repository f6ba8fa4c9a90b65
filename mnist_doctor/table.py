"""The comparison table: one row per run, built from summary rows (never from live models)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from rich.markup import escape
from rich.table import Table

STATUS_STYLE = {"completed": "green", "diverged": "yellow", "failed": "bold red",
                "interrupted": "magenta"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def comparison_table(rows: list[dict], title: str = "mnist-doctor runs",
                     checks: bool = False) -> Table:
    """One row per run; `checks` adds the Check column from each row's "check" cell."""
    table = Table(title=title, header_style="bold", show_lines=False)
    for header, justify in (("Run", "left"), ("Status", "left"), ("Train acc", "right"),
                            ("Test acc", "right"), ("Final loss", "right"),
                            ("Best test", "right"), ("First NaN", "right"), ("Time s", "right"),
                            ("Diagnosis", "left")):
        table.add_column(header, justify=justify, overflow="fold")
    if checks:
        table.add_column("Check", overflow="fold")
    for row in rows:
        status = row.get("status") or ""
        diagnosis = row.get("diagnosis") or ""
        severity = row.get("diagnosis_severity") or ""
        table.add_row(
            escape(str(row.get("name", ""))),  # sweep names hold [...]: not markup
            f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]",
            _number(row.get("train_accuracy"), 4), _number(row.get("test_accuracy"), 4),
            _number(row.get("test_loss"), 4), _number(row.get("best_test_accuracy"), 4),
            _first_nan(row), _number(row.get("wall_seconds"), 1),
            f"[{SEVERITY_STYLE.get(severity, 'white')}]{diagnosis}[/]" if diagnosis else "-",
            *([row.get("check") or "-"] if checks else []),
        )
    table.caption = _trained_with(rows)
    return table


def _trained_with(rows: list[dict]) -> str | None:
    """'trained with jax on GPU:0 (...)': the Keras backend and device of the rows, if known."""
    seen = sorted({" on ".join(filter(None, (row.get("backend"), row.get("device"))))
                   for row in rows if row.get("backend")})
    return f"trained with {', '.join(seen)}" if seen else None


def _number(value, digits: int) -> str:
    if value is None or value == "":
        return "-"
    number = float(value)
    return f"{number:.{digits}f}" if math.isfinite(number) else str(number)


def _first_nan(row: dict) -> str:
    step = row.get("first_nan_step")
    if step in (None, ""):
        return "-"
    epoch = row.get("first_nan_epoch")
    if epoch in (None, ""):
        return str(step)
    return f"step {int(float(step))} (ep {float(epoch):.2f})"


def read_summary(invocation_dir: Path) -> list[dict]:
    """summary.csv rows, each with the top finding's severity from its diagnosis.json."""
    path = invocation_dir / "summary.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{invocation_dir}: no summary.csv (is this an invocation folder "
                                "written by `mnist-doctor run`?)")
    with path.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        row["diagnosis_severity"] = top_severity(invocation_dir / row.get("run_dir", ""))
    return rows


def top_severity(run_dir: Path) -> str:
    path = run_dir / "diagnosis.json"
    if not path.is_file():
        return ""
    findings = json.loads(path.read_text(encoding="utf-8")).get("findings", [])
    return findings[0].get("severity", "") if findings else ""
