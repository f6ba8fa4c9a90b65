"""What an invocation produced, for people in a terminal and for machines in CI.

`mnist-doctor run` hands over its summary rows; everything else (status, final metrics,
diagnosis codes, expectation checks) is read back from the run folders (docs/run-format.md),
so `--json`, `--junit` and the Check column agree with what is on disk, also for runs an
interrupted or resumed sweep did not train in this process. No TensorFlow here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from mnist_doctor.report.style import as_float
from mnist_doctor.runs.layout import find_run_dirs
from mnist_doctor.runs.read import read_run
from mnist_doctor.vocabulary import ERROR_STATUSES, RunStatus

METRIC_KEYS = ("train_accuracy", "test_accuracy", "best_test_accuracy", "train_loss", "test_loss")


@dataclass(frozen=True)
class RunResult:
    """One run as CI sees it: did it finish, what did it measure, which checks broke."""

    name: str
    status: str
    run_dir: Path
    config_path: str = ""
    metrics: dict = field(default_factory=dict)
    diagnosis: tuple[str, ...] = ()
    checks: tuple[dict, ...] = ()
    error: str | None = None
    wall_seconds: float | None = None
    treatment: dict = field(default_factory=dict)

    @property
    def failed_checks(self) -> list[dict]:
        return [check for check in self.checks if not check.get("passed")]

    @property
    def errored(self) -> bool:
        """The run did not produce a result to check (crash, Ctrl-C, corrupt run.json)."""
        return self.status in ERROR_STATUSES

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "run_dir": str(self.run_dir),
                "config_path": self.config_path, "metrics": self.metrics,
                "diagnosis": list(self.diagnosis), "checks": list(self.checks),
                "error": self.error, **({"treatment": self.treatment} if self.treatment else {})}


def load_results(invocation_dir: Path, rows: list[dict]) -> list[RunResult]:
    """One RunResult per summary row, in the order the runs were given."""
    return [read_result(Path(invocation_dir) / str(row.get("run_dir") or row.get("name", "")),
                        row) for row in rows]


def read_result(run_dir: Path, row: dict | None = None) -> RunResult:
    """A run folder's result; the summary row fills in what a broken folder lacks."""
    row = row or {}
    record = read_run(run_dir)
    info = record.run_json
    status = str(row.get("status") or record.status)
    metrics = {key: record.final.get(key) for key in METRIC_KEYS}
    metrics.update(first_nan_step=info.get("first_nan_step"),
                   wall_seconds=info.get("wall_seconds", row.get("wall_seconds")))
    return RunResult(
        name=str(row.get("name") or record.name), status=status, run_dir=run_dir,
        config_path=str(info.get("config_path") or ""), metrics=metrics,
        diagnosis=tuple(str(f.get("code")) for f in record.findings if f.get("code")),
        checks=tuple(record.checks), error=info.get("error"),
        wall_seconds=_finite(as_float(metrics["wall_seconds"])),
        treatment=record.treatment,
    )


def json_summary(invocation_dir: Path, results: list[RunResult]) -> dict:
    """The `--json` document: every run, plus the totals a CI script branches on."""
    return {
        "invocation_dir": str(invocation_dir),
        "runs": [result.to_json() for result in results],
        "failed_runs": sum(1 for result in results if result.status == RunStatus.FAILED),
        "failed_checks": sum(len(result.failed_checks) for result in results),
    }


def exit_code(results: list[RunResult], check: bool) -> int:
    """1 if a run failed, or (with --check) if an expectation broke; else 0."""
    if any(result.status == RunStatus.FAILED for result in results):
        return 1
    if check and any(result.failed_checks for result in results):
        return 1
    return 0


def failure_lines(results: list[RunResult]) -> list[str]:
    """Under the table, one line (rich markup) per run that failed or stopped, with why:
    its table row can only show dashes."""
    return [f"[bold red]{escape(result.status)}:[/] {escape(result.name)}: "
            f"{escape(result.error or 'no error recorded (see its run.json)')}"
            for result in results if result.errored]


def check_cell(checks) -> str:
    """The table's Check column: pass, or FAIL and each broken clause with its number."""
    if not checks:
        return "-"
    failed = [check for check in checks if not check.get("passed")]
    if not failed:
        return f"[green]pass ({len(checks)})[/]"
    details = "; ".join(escape(str(check.get("detail") or check.get("clause"))) for check in failed)
    return f"[bold red]FAIL[/] {details}"


def with_checks(rows: list[dict], results: list[RunResult]) -> list[dict]:
    """Summary rows with each run's Check cell (rows and results are in the same order)."""
    return [{**row, "check": check_cell(result.checks)}
            for row, result in zip(rows, results, strict=True)]


def write_curves(invocation_dir: Path) -> tuple[Path | None, str | None]:
    """Draw curves.png if any run folder exists; (path, None), or (None, why it was not drawn).

    A plotting problem must not turn a finished sweep into an error: the numbers are on disk.
    """
    try:
        if not find_run_dirs(invocation_dir):
            return None, "no run folders"
        from mnist_doctor.report.plots import plot_curves

        return plot_curves(invocation_dir), None
    except Exception as err:  # noqa: BLE001 - a picture is a nicety; the runs are recorded
        return None, f"{type(err).__name__}: {err}"


def _finite(number: float | None) -> float | None:
    return number if number is not None and math.isfinite(number) else None
