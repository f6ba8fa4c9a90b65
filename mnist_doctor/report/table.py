"""The comparison table: one row per run, built from summary rows (never from live models)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from mnist_doctor.report.style import SEVERITY_STYLE, STATUS_STYLE, format_number


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
            format_number(row.get("train_accuracy"), 4), format_number(row.get("test_accuracy"), 4),
            format_number(row.get("test_loss"), 4), format_number(row.get("best_test_accuracy"), 4),
            _first_nan(row), format_number(row.get("wall_seconds"), 1),
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


def _first_nan(row: dict) -> str:
    step = row.get("first_nan_step")
    if step in (None, ""):
        return "-"
    epoch = row.get("first_nan_epoch")
    if epoch in (None, ""):
        return str(step)
    return f"step {int(float(step))} (ep {float(epoch):.2f})"
