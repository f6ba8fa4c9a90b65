"""report.html: one self-contained page per invocation, readable offline and attachable to a bug.

Everything is inline: CSS in a <style>, curves.png as a base64 data URI, one tiny script that
records when the image has decoded (so a headless-browser test can check it rendered). A
Content-Security-Policy forbids every network fetch and allows only that script, by hash, so the
page stays offline and inert even if a value from disk slipped past escaping. Every value read
from the run folders goes through `html.escape`: run names and configs are user text.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from pathlib import Path
from typing import Any

from mnist_doctor.config.changes import describe_changes
from mnist_doctor.report.plots import plot_curves
from mnist_doctor.runs.read import RunRecord, read_runs

CURVES_ALT = "test accuracy and loss against step"
SEVERITY_ORDER = ("error", "warning", "info")
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #1d1d1f; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-top: 1px solid #ddd;
     padding-top: 16px; } h3 { font-size: 15px; margin-bottom: 6px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #d0d0d0; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sev-error { color: #fff; background: #c62828; } .sev-warning { background: #ffb300; }
.sev-info { background: #90caf9; } .badge { padding: 1px 6px; border-radius: 3px; }
.status-completed { color: #2e7d32; } .status-diverged, .status-failed { color: #c62828; }
.status-interrupted, .status-unreadable { color: #ef6c00; }
.pass { color: #2e7d32; font-weight: 600; }
.fail { color: #c62828; font-weight: 600; } .muted { color: #777; }
pre { background: #f7f7f7; border: 1px solid #e0e0e0; padding: 8px; overflow-x: auto; }
img.curves { max-width: 100%; border: 1px solid #e0e0e0; }
"""
# Sets data-curves-width on <html> once the embedded PNG has decoded: a render test reads it.
LOADED_SCRIPT = (
    "(function(){var i=document.getElementById('curves');if(!i)return;"
    "function m(){document.documentElement.setAttribute('data-curves-width',i.naturalWidth);}"
    "if(i.complete)m();else i.addEventListener('load',m);})();"
)


def write_report(invocation_dir: Path) -> Path:
    """Write `report.html` into the invocation folder (drawing curves.png first if missing)."""
    invocation_dir = Path(invocation_dir)
    curves = invocation_dir / "curves.png"
    if not curves.is_file():
        plot_curves(invocation_dir, curves)
    page = render_report(invocation_dir.name, read_runs(invocation_dir), curves.read_bytes())
    output = invocation_dir / "report.html"
    output.write_text(page, encoding="utf-8")
    return output


def render_report(title: str, runs: list[RunRecord], curves_png: bytes) -> str:
    """The whole page as a string; pure, so tests need no files."""
    script_hash = base64.b64encode(hashlib.sha256(LOADED_SCRIPT.encode()).digest()).decode()
    policy = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
              f"script-src 'sha256-{script_hash}'")
    image = base64.b64encode(curves_png).decode("ascii")
    body = "\n".join([
        f"<h1>mnist-doctor report: {_esc(title)}</h1>",
        f'<p class="muted">{len(runs)} run(s)</p>',
        comparison_table(runs),
        '<h2 id="curves-heading">Curves</h2>',
        f'<img id="curves" class="curves" alt="{CURVES_ALT}" src="data:image/png;base64,{image}">',
        *(run_section(index, run) for index, run in enumerate(runs)),
    ])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        f"<title>mnist-doctor: {_esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body>\n{body}\n<script>{LOADED_SCRIPT}</script>\n</body></html>\n"
    )


def comparison_table(runs: list[RunRecord]) -> str:
    """One row per run, the same numbers as the CLI table, with the top finding coloured."""
    headers = ("name", "status", "train acc", "test acc", "test loss", "best test acc",
               "first NaN step", "wall s", "diagnosis", "checks")
    head = "".join(f"<th>{h}</th>" for h in headers)
    rows = "\n".join(_table_row(index, run) for index, run in enumerate(runs))
    return _table('id="comparison"', head, rows)


def _table_row(index: int, run: RunRecord) -> str:
    final = run.final
    cells = [
        f'<td><a href="#run-{index}">{_esc(run.name)}</a></td>',
        f"<td>{_status_span(run.status)}</td>",
        _num_cell(final.get("train_accuracy"), ".4f"),
        _num_cell(final.get("test_accuracy"), ".4f"),
        _num_cell(final.get("test_loss"), ".4g"),
        _num_cell(final.get("best_test_accuracy"), ".4f"),
        _num_cell(run.run_json.get("first_nan_step"), "d"),
        _num_cell(run.run_json.get("wall_seconds"), ".1f"),
        f"<td>{_top_finding(run.findings)}</td>",
        f"<td>{_checks_summary(run.checks)}</td>",
    ]
    return f'<tr class="run-row">{"".join(cells)}</tr>'


def run_section(index: int, run: RunRecord) -> str:
    """A run's facts, findings (root cause first), expectations and resolved config."""
    return "\n".join([
        f'<section class="run" id="run-{index}">',
        f"<h2>{_esc(run.name)} {_status_span(run.status, parenthesised=True)}</h2>",
        _facts(run.run_json),
        "<h3>Diagnosis</h3>",
        findings_table(run.findings),
        *treatment_html(run.treatment),
        "<h3>Expectations</h3>",
        checks_list(run.checks),
        "<h3>Config</h3>",
        f"<pre>{_esc(run.config_text)}</pre>" if run.config_text
        else '<p class="muted">no config.yaml</p>',
        "</section>",
    ])


def treatment_html(treatment: dict[str, Any]) -> list[str]:
    """The trials table and the root-cause sentence; nothing for an untreated run."""
    trials = treatment.get("treatments") or []
    if not treatment:
        return []
    rows = "".join(
        f"<tr><td>{_esc(t.get('fix'))}</td><td>{_esc(describe_changes(t.get('changes') or {}))}"
        f"</td><td class=\"num\">{_format_value(t.get('test_accuracy_before'), '.4f')} &rarr; "
        f"{_format_value(t.get('test_accuracy_after'), '.4f')}</td>"
        f"<td>{_esc(t.get('first_nan_step') if t.get('first_nan_step') is not None else '-')}"
        f"</td><td>{_esc(', '.join(t.get('errors_after') or []) or '-')}</td>"
        f"<td>{_esc(t.get('verdict'))}</td></tr>" for t in trials)
    head = ("<th>fix</th><th>what it changes</th><th>test acc before &rarr; after</th>"
            "<th>NaN step</th><th>errors after</th><th>verdict</th>")
    return ["<h3>Treatment trials</h3>",
            f"<p><strong>{_esc(treatment.get('verdict'))}</strong></p>",
            _table('class="treatments"', head, rows) if trials else
            '<p class="muted">no trial needed</p>']


def findings_table(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return '<p class="muted">no findings</p>'
    head = "".join(f"<th>{h}</th>" for h in
                   ("code", "severity", "layer", "step", "message", "evidence", "fix"))
    rows = "\n".join(_finding_row(f) for f in findings)
    return _table('class="findings"', head, rows)


def _finding_row(finding: dict[str, Any]) -> str:
    severity = str(finding.get("severity") or "")
    return (
        f"<tr><td><code>{_esc(finding.get('code'))}</code></td>"
        f'<td><span class="badge {_severity_class(severity)}">{_esc(severity)}</span></td>'
        f"<td>{_esc(finding.get('layer'))}</td><td>{_esc(finding.get('step'))}</td>"
        f"<td>{_esc(finding.get('message'))}</td><td>{_evidence(finding.get('evidence'))}</td>"
        f"<td>{_esc(finding.get('fix'))}</td></tr>"
    )


def checks_list(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return '<p class="muted">no expectations</p>'
    items = []
    for check in checks:
        passed = bool(check.get("passed"))
        verdict = '<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>'
        detail = check.get("detail")
        detail_html = f" &mdash; {_esc(detail)}" if detail else ""
        items.append(f'<li class="check">{verdict} <code>{_esc(check.get("clause"))}</code>'
                     f"{detail_html}</li>")
    return '<ul class="checks">' + "".join(items) + "</ul>"


def _facts(run_json: dict[str, Any]) -> str:
    """The run.json fields a reader needs to reproduce or triage the run."""
    keys = ("seed", "device", "backend", "config_path", "started_at", "steps_completed",
            "epochs_completed", "first_nan_step", "first_nan_epoch", "first_nonfinite_layer",
            "error")
    rows = "".join(f"<tr><th>{k}</th><td>{_esc(run_json.get(k))}</td></tr>"
                   for k in keys if run_json.get(k) not in (None, ""))
    return f'<table class="facts">{rows}</table>' if rows else ""


def _table(attributes: str, head: str, rows: str) -> str:
    return (f"<table {attributes}><thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{rows}\n</tbody></table>")


def _status_span(status: str, parenthesised: bool = False) -> str:
    text = f"({_esc(status)})" if parenthesised else _esc(status)
    return f'<span class="status-{_esc(status)}">{text}</span>'


def _top_finding(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return ""
    top = findings[0]
    severity = str(top.get("severity") or "")
    return (f'<span class="badge {_severity_class(severity)}" title="{_esc(severity)}">'
            f"{_esc(top.get('code'))}</span>")


def _checks_summary(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return ""
    failed = sum(1 for c in checks if not c.get("passed"))
    if failed:
        return f'<span class="fail">FAIL {failed}/{len(checks)}</span>'
    return f'<span class="pass">PASS {len(checks)}</span>'


def _evidence(evidence: Any) -> str:
    if not evidence:
        return ""
    if not isinstance(evidence, dict):
        return _esc(evidence)
    return "<br>".join(f"{_esc(k)} = {_esc(_format_value(v))}" for k, v in evidence.items())


def _num_cell(value: Any, spec: str) -> str:
    return f'<td class="num">{_esc(_format_value(value, spec))}</td>'


def _format_value(value: Any, spec: str = ".4g") -> str:
    """Numbers formatted, inf/nan spelled out (they are results), anything else as text."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if spec == "d":
        return str(int(value))
    return format(value, spec)


def _severity_class(severity: str) -> str:
    return f"sev-{severity}" if severity in SEVERITY_ORDER else "sev-unknown"


def _esc(value: Any) -> str:
    return "" if value is None else html.escape(str(value), quote=True)
