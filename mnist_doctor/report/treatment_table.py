"""A treated run's trials on a terminal: what each fix changed, what it measured, its verdict,
and the sentence that names the root cause with the numbers that show it."""

from __future__ import annotations

import re

from rich.console import Group, RenderableType
from rich.text import Text

from mnist_doctor.config.changes import describe_changes
from mnist_doctor.report.fit import NAME, WRAP, Cell, Column, FittedTable
from mnist_doctor.report.style import format_number

VERDICT_STYLE = {"cures": "bold green", "helps": "green", "no effect": "dim", "worse": "red"}


def treatment_table(name: str, treatment: dict) -> RenderableType:
    """Rows from diagnosis.json's `treatments`; one line when the run needed no trial. The
    table fits the width it is printed at: NaN, then the errors left, go first when short."""
    trials = treatment.get("treatments") or []
    if not trials:
        return Text(f"{name}: no trial needed", style="green")
    columns = [Column("Fix", kind=NAME), Column("What it changes", kind=WRAP),
               Column("Test acc", justify="right"), Column("NaN", drop=2),
               Column("Errors after", kind=WRAP, drop=1), Column("Verdict")]
    rows = []
    for trial in trials:
        before = format_number(trial.get("test_accuracy_before"), 4)
        after = format_number(trial.get("test_accuracy_after"), 4)
        nan = trial.get("first_nan_step")
        verdict = str(trial.get("verdict") or "")
        rows.append([Cell(str(trial.get("fix", ""))),
                     Cell(_compact(describe_changes(trial.get("changes") or {}))),
                     Cell(f"{before}→{after}"), Cell("-" if nan is None else f"step {nan}"),
                     Cell(_codes(trial.get("errors_after") or [])),
                     Cell(verdict, style=VERDICT_STYLE.get(verdict, ""))])
    table = FittedTable(columns, rows, title=f"treatment trials: {name}")
    return Group(table, Text(str(treatment.get("verdict") or ""), style="bold"))


def _codes(codes: list[str], shown: int = 3) -> str:
    """The first few error codes a trial still shows, and how many more."""
    if not codes:
        return "-"
    more = f" +{len(codes) - shown}" if len(codes) > shown else ""
    return ", ".join(codes[:shown]) + more


def _compact(changes: str) -> str:
    """Dotted keys shortened for a terminal: `model.layers[0].x` -> `L0.x`, the optimizer's
    `learning_rate` -> `lr` (diagnosis.json, --json and the HTML keep the full keys)."""
    return re.sub(r"model\.layers\[(\d+)\]\.", r"L\1.", changes).replace(
        "optimizer.learning_rate", "lr")
