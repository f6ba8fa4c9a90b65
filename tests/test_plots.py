"""plots and run_files: synthetic run folders in tmp_path, no training, no TensorFlow."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from mnist_doctor.report.plots import COLOURS, plot_curves, run_label
from mnist_doctor.runs.read import find_run_dirs, read_run, read_runs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEADER = "epoch,step,train_loss,train_accuracy,test_loss,test_accuracy,seconds,nan\n"


def write_run(invocation: Path, folder: str, rows: list[str], **run_json) -> Path:
    """A minimal run folder: run.json and metrics.csv only, as a crashed run might leave."""
    run_dir = invocation / folder
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"name": folder, "status": "completed",
                                                  **run_json}))
    (run_dir / "metrics.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    return run_dir


def healthy_rows(steps: int = 5) -> list[str]:
    return [f"{s / 10},{s * 100},{2.3 / (s + 1)},{0.1 + 0.17 * s},{2.3 / (s + 1)},"
            f"{0.1 + 0.17 * s},{s},0" for s in range(steps)]


NAN_ROWS = [
    "0,0,2.30,0.10,2.30,0.10,0,0",
    "0.1,100,1.5,0.5,1.4,0.6,1,0",
    "0.2,200,inf,0.3,inf,0.098,2,1",
    "0.3,300,nan,0.098,nan,0.098,3,1",
]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    return struct.unpack(">II", data[16:24])


def test_curves_png_written_with_nan_run(tmp_path):
    write_run(tmp_path, "healthy", healthy_rows())
    write_run(tmp_path, "diverged", NAN_ROWS, status="diverged", first_nan_step=200)
    out = plot_curves(tmp_path)
    assert out == tmp_path / "curves.png"
    width, height = png_size(out)
    assert 800 <= width <= 3000 and 300 <= height <= 2000
    assert out.stat().st_size > 10_000


def test_curves_custom_output_and_twelve_runs(tmp_path):
    for index in range(12):
        write_run(tmp_path, f"run-{index:02d}", healthy_rows(3))
    out = plot_curves(tmp_path, tmp_path / "sub" / "c.png")
    assert out == tmp_path / "sub" / "c.png" and png_size(out)[0] > 800
    assert len(set(COLOURS)) >= 12


def test_curves_all_nonfinite_and_empty_invocation(tmp_path):
    write_run(tmp_path / "a", "dead", ["0,0,nan,0.1,nan,0.098,0,1"], status="diverged")
    assert png_size(plot_curves(tmp_path / "a"))[0] > 0
    (tmp_path / "b").mkdir()
    assert png_size(plot_curves(tmp_path / "b"))[0] > 0


def test_reader_tolerates_missing_optional_files(tmp_path):
    run_dir = tmp_path / "bare"
    run_dir.mkdir()
    (run_dir / "run.json").write_text('{"status": "failed", "error": "boom"}')
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    [run] = read_runs(tmp_path)
    assert run.name == "bare" and run.status == "failed"
    assert run.metrics.empty and "test_loss" in run.metrics
    assert run.config_text == "" and run.findings == [] and run.checks == []
    assert run.final == {}


def test_reader_parses_inf_nan_findings_and_checks(tmp_path):
    run_dir = write_run(tmp_path, "x", NAN_ROWS, checks=[
        {"clause": "nan: true", "passed": True, "detail": ""}, "junk"])
    (run_dir / "diagnosis.json").write_text(json.dumps({"findings": [{"code": "nan_loss"}]}))
    (run_dir / "config.yaml").write_text("name: x\n")
    run = read_run(run_dir)
    losses = run.metrics["test_loss"].tolist()
    assert losses[2] == float("inf") and losses[3] != losses[3]
    assert run.findings == [{"code": "nan_loss"}]
    assert run.checks == [{"clause": "nan: true", "passed": True, "detail": ""}]
    assert run.config_text == "name: x\n"


def test_reader_marks_corrupt_run_json_unreadable(tmp_path):
    run_dir = tmp_path / "cut"
    run_dir.mkdir()
    (run_dir / "run.json").write_text('{"status": "comp')
    [run] = read_runs(tmp_path)
    assert run.status == "unreadable" and "run.json" in run.run_json["error"]
    assert png_size(plot_curves(tmp_path))[0] > 0


def test_reader_ignores_corrupt_optional_files(tmp_path):
    run_dir = write_run(tmp_path, "x", [])
    (run_dir / "diagnosis.json").write_text("{not json")
    (run_dir / "metrics.csv").write_text("")
    run = read_run(run_dir)
    assert run.findings == [] and run.metrics.empty


def test_find_run_dirs_sorted_and_missing_folder(tmp_path):
    for name in ("b", "a"):
        write_run(tmp_path, name, [])
    assert [p.name for p in find_run_dirs(tmp_path)] == ["a", "b"]
    with pytest.raises(FileNotFoundError):
        find_run_dirs(tmp_path / "missing")


def test_run_label_shortens_and_shows_status(tmp_path):
    run = read_run(write_run(tmp_path, "n" * 80, [], status="diverged"))
    label = run_label(run)
    assert label.endswith("(diverged)") and len(label) < 60
