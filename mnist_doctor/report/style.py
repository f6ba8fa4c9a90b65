"""How numbers, statuses and severities look on a terminal: one palette and one number format
for every table."""

from __future__ import annotations

import math

from mnist_doctor.vocabulary import RunStatus, Severity

STATUS_STYLE = {RunStatus.COMPLETED: "green", RunStatus.DIVERGED: "yellow",
                RunStatus.FAILED: "bold red", RunStatus.INTERRUPTED: "magenta",
                RunStatus.UNREADABLE: "bold red"}
SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def as_float(value) -> float | None:
    """A number from a summary cell or run.json field ('' / None / junk: None)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def format_number(value, digits: int) -> str:
    """Fixed decimals; '-' for a missing value; 'nan'/'inf' spelled out (they are results)."""
    number = as_float(value)
    if number is None:
        return "-"
    return f"{number:.{digits}f}" if math.isfinite(number) else str(number)
