"""The comparison table: one row per run, built from summary rows (never from live models)."""

from __future__ import annotations

from mnist_doctor.report.fit import NAME, WRAP, Cell, Column, FittedTable
from mnist_doctor.report.style import SEVERITY_STYLE, STATUS_STYLE, format_number

# When the terminal is narrow, columns go in this order (drop=1 first); Run, Status, Test acc,
# Diagnosis and Check always stay.
COLUMNS = [Column("Run", kind=NAME), Column("Status"),
           Column("Train acc", "right", "Train", drop=4),
           Column("Test acc", "right", "Test"),
           Column("Final loss", "right", "Loss", drop=5),
           Column("Best test", "right", "Best", drop=1),
           Column("First NaN", "right", "NaN at", drop=3),
           Column("Time s", "right", "Secs", drop=2),
           Column("Diagnosis")]


def comparison_table(rows: list[dict], title: str = "mnist-doctor runs",
                     checks: bool = False) -> FittedTable:
    """One row per run; `checks` adds the Check column from each row's "check" cell. The
    table fits the width it is printed at (see report.fit)."""
    cells = []
    for row in rows:
        status = row.get("status") or ""
        diagnosis = row.get("diagnosis") or ""
        severity = row.get("diagnosis_severity") or ""
        cells.append([
            Cell(str(row.get("name", ""))), Cell(status, STATUS_STYLE.get(status, "white")),
            *(Cell(format_number(row.get(key), 4)) for key in
              ("train_accuracy", "test_accuracy", "test_loss", "best_test_accuracy")),
            Cell(_first_nan(row)), Cell(format_number(row.get("wall_seconds"), 1)),
            Cell(diagnosis or "-", SEVERITY_STYLE.get(severity, "white") if diagnosis else ""),
            *([Cell(row.get("check") or "-", markup=True)] if checks else []),
        ])
    columns = COLUMNS + ([Column("Check", kind=WRAP)] if checks else [])
    return FittedTable(columns, cells, title=title, caption=_trained_with(rows))


def _trained_with(rows: list[dict]) -> str | None:
    """'trained with jax on GPU:0 (...)': the Keras backend and device of the rows, if known."""
    seen = sorted({" on ".join(filter(None, (row.get("backend"), row.get("device"))))
                   for row in rows if row.get("backend")})
    return f"trained with {', '.join(seen)}" if seen else None


def _first_nan(row: dict) -> str:
    step = row.get("first_nan_step")
    if step in (None, ""):
        return "-"
    epoch = row.get("first_nan_epoch")
    if epoch in (None, ""):
        return str(step)
    return f"step {int(float(step))} (ep {float(epoch):.2f})"
