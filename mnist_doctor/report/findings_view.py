"""One run's findings on a terminal: severity, code and where, then message, fix and numbers."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mnist_doctor.doctor.findings import Finding
from mnist_doctor.report.style import SEVERITY_STYLE
from mnist_doctor.runs.folder import json_safe


def findings_renderable(name: str, findings: list[Finding],
                        failed: bool = False) -> RenderableType:
    """One run's findings as a table: severity, code and where, then message, fix, numbers.
    A run that `failed` and has no findings gets no "no problems found": it has no result."""
    if not findings:
        if failed:
            return Text(f"{name}: no findings (the run did not finish)", style="red")
        return Text(f"{name}: no problems found", style="green")
    table = Table(title=name, title_justify="left", show_lines=True, expand=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("finding", no_wrap=True)
    table.add_column("what happened, and the fix", ratio=1)
    for finding in findings:
        where = " ".join(part for part in (finding.layer, None if finding.step is None
                                           else f"step {finding.step}") if part)
        details = Group(
            Text(finding.message),
            Text.assemble(("Fix: ", "bold"), finding.fix),
            Text(_evidence_line(finding.evidence), style="dim"),
        )
        table.add_row(Text(finding.severity, style=SEVERITY_STYLE[finding.severity]),
                      Text(finding.code + (f"\n{where}" if where else "")), details)
    return table


def _rounded(value):
    """Four significant digits are plenty on screen; diagnosis.json keeps full precision."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return float(f"{value:.4g}") if isinstance(value, float) else value


def _evidence_line(evidence: dict, limit: int = 400) -> str:
    text = json.dumps(_rounded(json_safe(evidence)), separators=(", ", ": "))
    return "evidence: " + (text if len(text) <= limit else text[:limit - 3] + "...")

