"""report.html: content and escaping on a synthetic invocation, then a real headless render."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mnist_doctor.report.html import render_report, write_report
from mnist_doctor.runs.read import read_runs

HEADER = "epoch,step,train_loss,train_accuracy,test_loss,test_accuracy,seconds,nan\n"
EVIL = "<script>alert('x')</script>"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FINDING = {
    "code": "nan_loss", "severity": "error", "layer": "L0_dense", "step": 200,
    "evidence": {"loss": float("inf"), "learning_rate": 3.0}, "message": "loss became inf",
    "fix": "lower the learning rate",
}
CHECKS = [
    {"clause": "nan: true", "passed": True, "detail": ""},
    {"clause": "test_accuracy: {min: 0.9}", "passed": False, "detail": "got 0.098 < 0.9"},
]


def write_run(invocation: Path, folder: str, rows: list[str], **run_json) -> Path:
    run_dir = invocation / folder
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"name": folder, "status": "completed",
                                                  **run_json}))
    (run_dir / "metrics.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    return run_dir


@pytest.fixture
def invocation(tmp_path: Path) -> Path:
    """Three runs: healthy, diverged with findings and checks, and a bare one named <script>."""
    inv = tmp_path / "20250101-000000-demo"
    write_run(inv, "healthy", ["0,0,2.3,0.1,2.3,0.11,0,0", "1,100,0.3,0.9,0.3,0.91,1,0"],
              wall_seconds=1.5, final={"train_accuracy": 0.9, "test_accuracy": 0.91,
                                       "test_loss": 0.3, "best_test_accuracy": 0.91})
    rows = ["0,0,2.3,0.1,2.3,0.1,0,0", "1,200,inf,0.1,nan,0.098,1,1"]
    diverged = write_run(inv, "diverged", rows,
                         status="diverged", first_nan_step=200, checks=CHECKS,
                         final={"test_accuracy": 0.098, "test_loss": float("nan")})
    (diverged / "diagnosis.json").write_text(json.dumps({"findings": [FINDING]}))
    (diverged / "config.yaml").write_text(f"name: diverged\n# {EVIL}\n")
    write_run(inv, "evil", [], name=EVIL, status="failed")
    return inv


def test_report_contains_table_image_findings_and_checks(invocation):
    page = write_report(invocation).read_text(encoding="utf-8")
    assert (invocation / "curves.png").is_file()
    assert page.count('<tr class="run-row">') == 3
    assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)
    for text in ("nan_loss", "sev-error", "L0_dense", "loss = inf", "learning_rate = 3",
                 "lower the learning rate", "FAIL 1/2", "got 0.098 &lt; 0.9", "nan: true",
                 "0.9100", "name: diverged"):
        assert text in page, text
    assert page.count('class="pass">PASS') == 1 and page.count('class="fail">FAIL') == 2


def test_report_escapes_names_and_configs(invocation):
    page = write_report(invocation).read_text(encoding="utf-8")
    assert EVIL not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    # The page's own loader is the only script.
    assert page.count("<script>") == 1


def test_report_reuses_existing_curves(invocation):
    (invocation / "curves.png").write_bytes(b"\x89PNG-marker")
    page = write_report(invocation).read_text(encoding="utf-8")
    assert base64.b64encode(b"\x89PNG-marker").decode() in page


def test_render_report_without_runs():
    page = render_report("empty", [], b"")
    assert "0 run(s)" in page and '<table id="comparison">' in page


def test_report_is_offline(invocation):
    page = write_report(invocation).read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "default-src 'none'" in page


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def test_report_renders_in_headless_chromium(invocation, tmp_path):
    """The table and a decoded image are in the DOM Chromium built (not just in the source)."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium binary (apt-get install -y chromium)")
    report = write_report(invocation)
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom",
        report.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    width = re.search(r'data-curves-width="(\d+)"', dom)
    assert width and int(width.group(1)) > 0, dom[:500]
    assert '<table id="comparison">' in dom and dom.count('class="run-row"') == 3
    assert len(read_runs(invocation)) == 3
