"""Grid points: the repeats of one point folded into mean, spread and counts.

One seed proves little: a sweep's question is whether a setting trains *reliably*. Each point's
row gives the mean and sample standard deviation (n - 1; empty below two runs) of the final
metrics over its recorded runs (completed or diverged: a diverged run's numbers are its result,
and a non-finite loss makes the mean non-finite on purpose), and how many runs completed,
diverged, failed or were interrupted. `summary_points.csv` holds these rows; the per-run rows
stay in `summary.csv` (docs/run-format.md).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from pathlib import Path

from mnist_doctor.runs.folder import write_atomic
from mnist_doctor.runs.layout import POINTS_FILE
from mnist_doctor.vocabulary import RECORDED, RunStatus

METRICS = ("test_accuracy", "train_accuracy", "test_loss", "train_loss", "best_test_accuracy")
COUNTS = ("runs", *(str(s) for s in (RunStatus.COMPLETED, RunStatus.DIVERGED, RunStatus.FAILED,
                                      RunStatus.INTERRUPTED)))
TAIL = ("first_nan_step_min", "wall_seconds_mean", "diagnosis")


def aggregate(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """(one row per grid point in first-seen order, the matrix parameter columns)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row.get("point") or row.get("name")), []).append(row)
    params = list(dict.fromkeys(key for row in rows for key in (row.get("params") or {})))
    return [_point_row(point, members, params) for point, members in groups.items()], params


def _point_row(point: str, members: list[dict], params: list[str]) -> dict:
    given = members[0].get("params") or {}
    statuses = Counter(str(row.get("status")) for row in members)
    out: dict = {"point": point, **{key: given.get(key) for key in params},
                 "runs": len(members), **{status: statuses[status] for status in COUNTS[1:]}}
    recorded = [row for row in members if row.get("status") in RECORDED]
    for metric in METRICS:
        out[f"{metric}_mean"], out[f"{metric}_std"] = mean_std(
            [_float(row.get(metric)) for row in recorded if _float(row.get(metric)) is not None])
    nan_steps = [_float(row.get("first_nan_step")) for row in members]
    nan_steps = [step for step in nan_steps if step is not None]
    out["first_nan_step_min"] = int(min(nan_steps)) if nan_steps else None
    walls = [w for w in (_float(row.get("wall_seconds")) for row in members) if w is not None]
    out["wall_seconds_mean"] = round(sum(walls) / len(walls), 3) if walls else None
    codes = Counter(row.get("diagnosis") for row in members if row.get("diagnosis"))
    out["diagnosis"] = codes.most_common(1)[0][0] if codes else ""
    return out


def is_sweep(points: list[dict], params: list[str]) -> bool:
    """A matrix was swept or some point was repeated: the point table says more than runs."""
    return bool(params) or any(int(point.get("runs") or 0) > 1 for point in points)


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation; inf/nan propagate (they are results, not noise)."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    if not math.isfinite(mean):
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _float(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def columns(params: list[str]) -> list[str]:
    stats = [f"{metric}_{kind}" for metric in METRICS for kind in ("mean", "std")]
    return ["point", *params, *COUNTS, *stats, *TAIL]


def write_points(invocation_dir: Path, points: list[dict], params: list[str]) -> Path:
    """summary_points.csv, atomically: the columns between `point` and `runs` are parameters."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = columns(params)
    writer.writerow(header)
    for point in points:
        writer.writerow([_cell(point.get(column)) for column in header])
    path = invocation_dir / POINTS_FILE
    write_atomic(path, buffer.getvalue())
    return path


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def read_points(invocation_dir: Path) -> tuple[list[dict], list[str]]:
    """summary_points.csv back as (rows, parameter columns); FileNotFoundError if absent."""
    path = Path(invocation_dir) / POINTS_FILE
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    params = header[1:header.index("runs")] if "runs" in header else []
    return rows, params
