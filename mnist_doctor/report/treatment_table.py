"""A treated run's trials on a terminal: what each fix changed, what it measured, its verdict,
and the sentence that names the root cause with the numbers that show it."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mnist_doctor.config.changes import describe_changes
from mnist_doctor.report.style import format_number

VERDICT_STYLE = {"cures": "bold green", "helps": "green", "no effect": "dim", "worse": "red"}


def treatment_table(name: str, treatment: dict) -> RenderableType:
    """Rows from diagnosis.json's `treatments`; one line when the run needed no trial."""
    trials = treatment.get("treatments") or []
    if not trials:
        return Text(f"{name}: no trial needed", style="green")
    table = Table(title=f"treatment trials: {escape(name)}", title_justify="left",
                  header_style="bold", show_lines=False)
    table.add_column("Fix", overflow="fold")
    table.add_column("What it changes", overflow="fold", ratio=1)
    table.add_column("Test acc", justify="right", no_wrap=True)
    table.add_column("NaN", no_wrap=True)
    table.add_column("Errors after", overflow="fold")
    table.add_column("Verdict", no_wrap=True)
    for trial in trials:
        before = format_number(trial.get("test_accuracy_before"), 4)
        after = format_number(trial.get("test_accuracy_after"), 4)
        nan = trial.get("first_nan_step")
        verdict = str(trial.get("verdict") or "")
        table.add_row(escape(str(trial.get("fix", ""))),
                      escape(describe_changes(trial.get("changes") or {})),
                      f"{before} -> {after}", "-" if nan is None else f"step {nan}",
                      escape(_codes(trial.get("errors_after") or [])),
                      f"[{VERDICT_STYLE.get(verdict, 'white')}]{verdict}[/]")
    sentence = Text(str(treatment.get("verdict") or ""), style="bold")
    return Group(table, sentence)


def _codes(codes: list[str], shown: int = 3) -> str:
    """The first few error codes a trial still shows, and how many more."""
    if not codes:
        return "-"
    more = f" +{len(codes) - shown}" if len(codes) > shown else ""
    return ", ".join(codes[:shown]) + more
