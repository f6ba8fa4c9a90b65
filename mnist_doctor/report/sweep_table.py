"""The sweep table: one row per grid point (mean ± std over its repeats), built from point rows.

A 2x2x2 grid repeated 3 times is 24 runs; what a reader wants is 8 lines that differ only where
the settings and results differ. So by default a column whose cells are all the same is left out
(the point name still spells every setting); `--all-columns` shows every column.
"""

from __future__ import annotations

from mnist_doctor.report.fit import NAME, Cell, Column, FittedTable
from mnist_doctor.report.style import SEVERITY_STYLE, format_number

ALWAYS = {"Point", "n", "Completed", "Diverged", "Test acc"}
# When the terminal is narrow, columns go in this order (1 first); the point, its settings,
# n, Completed, Test acc and Diagnosis always stay.
DROP = {"Best test": 1, "Time s": 2, "First NaN": 3, "Train acc": 4, "Final loss": 5,
        "Interrupted": 6}
SHORT = {"Completed": "Done", "Diverged": "Div", "Failed": "Fail", "Interrupted": "Int",
         "Test acc": "Test", "Train acc": "Train", "Final loss": "Loss", "Best test": "Best",
         "First NaN": "NaN at", "Time s": "Secs"}


def points_table(points: list[dict], params: list[str], title: str = "mnist-doctor sweep",
                 all_columns: bool = False) -> FittedTable:
    """Rows from aggregate.aggregate or aggregate.read_points (numbers or CSV strings); the
    table fits the width it is printed at (see report.fit)."""
    spec = [("Point", "left", lambda p: str(p.get("point", "")))]
    spec += [(key, "left", lambda p, key=key: _text(p.get(key))) for key in params]
    spec += [
        ("n", "right", lambda p: _text(p.get("runs"))),
        ("Completed", "right", lambda p: _text(p.get("completed"))),
        ("Diverged", "right", lambda p: _text(p.get("diverged"))),
        ("Failed", "right", lambda p: _text(p.get("failed"))),
        ("Interrupted", "right", lambda p: _text(p.get("interrupted"))),
        ("Test acc", "right", lambda p: _spread(p, "test_accuracy")),
        ("Train acc", "right", lambda p: _spread(p, "train_accuracy")),
        ("Final loss", "right", lambda p: _spread(p, "test_loss")),
        ("Best test", "right", lambda p: _spread(p, "best_test_accuracy")),
        ("First NaN", "right", lambda p: _step(p.get("first_nan_step_min"))),
        ("Time s", "right", lambda p: format_number(p.get("wall_seconds_mean"), 1)),
        ("Diagnosis", "left", lambda p: _text(p.get("diagnosis"))),
    ]
    cells = [[render(point) for _, _, render in spec] for point in points]
    keep = [index for index, (header, _, _) in enumerate(spec)
            if all_columns or header in ALWAYS or len(points) < 2
            or len({row[index] for row in cells}) > 1]
    columns = [Column(spec[i][0], spec[i][1], SHORT.get(spec[i][0]), DROP.get(spec[i][0], 0),
                      NAME if i == 0 else "fixed") for i in keep]
    rows = [[Cell(row[i], _style(spec[i][0], row[i])) for i in keep] for row in cells]
    return FittedTable(columns, rows, title=title)


def _style(header: str, cell: str) -> str:
    if header in ("Failed", "Interrupted") and cell not in ("0", "-"):
        return "bold red"
    if header == "Diverged" and cell not in ("0", "-"):
        return "yellow"
    if header == "Diagnosis" and cell != "-":
        return SEVERITY_STYLE["warning"]
    return ""


def _text(value) -> str:
    return "-" if value is None or value == "" else str(value)


def _spread(point: dict, metric: str) -> str:
    """`mean ± std` (4 decimals), or the mean alone for a single run."""
    mean = format_number(point.get(f"{metric}_mean"), 4)
    std = point.get(f"{metric}_std")
    return mean if std in (None, "") else f"{mean} ± {format_number(std, 4)}"


def _step(value) -> str:
    return "-" if value in (None, "") else f"step {int(float(value))}"
