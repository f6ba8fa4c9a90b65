"""Tables fit the width they are printed at (80, 100, 160 columns) and never break a word."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from mnist_doctor.cli.console import PIPED_WIDTH, output_width
from mnist_doctor.report.fit import fold_name
from mnist_doctor.report.sweep_table import points_table
from mnist_doctor.report.table import comparison_table
from mnist_doctor.runs.points import aggregate

ROWS = [
    {"name": "tiny-run-number-1", "status": "completed", "train_accuracy": 0.9653,
     "test_accuracy": 0.9644, "test_loss": 0.1167, "best_test_accuracy": 0.9644,
     "wall_seconds": 2.5, "diagnosis": "softmax_in_hidden_layer", "first_nan_step": 1048,
     "first_nan_epoch": 4.47, "backend": "tensorflow", "device": "CPU"},
    {"name": "baseline", "status": "failed"},
    {"name": "naive-log-nan", "status": "diverged", "test_accuracy": 0.1009,
     "diagnosis": "nan_loss", "wall_seconds": 4.2},
]


def render(renderable, width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def body_cells(text: str) -> list[str]:
    """Every cell of the table's body rows, stripped."""
    return [cell.strip() for line in text.splitlines() if line.startswith("│")
            for cell in line.strip("│").split("│")]


@pytest.mark.parametrize("width", [80, 100, 160])
def test_comparison_table_fits_without_breaking_a_word(width):
    text = render(comparison_table(ROWS, title="mnist-doctor: runs/20261203-101010"), width)
    assert max(map(len, text.splitlines())) <= width
    cells = body_cells(text)
    for word in ("completed", "failed", "diverged", "0.9644", "softmax_in_hidden_layer",
                 "nan_loss", "baseline", "naive-log-nan", "0.1009"):
        assert word in cells, (word, text)
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    for name in ("Run", "Status", "Test", "Diagnosis"):
        assert re.search(rf"┃\s*{name}\b", header), header
    name_lines = [cell for cell in cells if cell.startswith("tiny") or cell in
                  ("run-number-1", "run-", "number-1", "number-", "1", "tiny-run-number-1")]
    assert "".join(name_lines).startswith("tiny-run-number-1") or "tiny-run-number-1" in cells
    if width == 160:
        assert "Best test" in header and "step 1048 (ep 4.47)" in cells
    else:
        assert "not shown at this width" in text


def test_columns_go_in_the_stated_order():
    at = {width: render(comparison_table(ROWS), width) for width in (80, 100, 160)}
    header = {width: next(line for line in text.splitlines() if line.startswith("┃"))
              for width, text in at.items()}
    assert "Best test" in at[100].split("not shown at this width:")[1]
    assert "Best" not in header[100] and "Train" in header[100]
    assert "Train" not in header[80] and "Loss" in header[80]


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_sweep_table_fits_without_breaking_a_word(width):
    rows = [{"name": f"deep[activation={act},lr={lr}]-seed{seed}", "status": "completed",
             "test_accuracy": 0.91 + seed / 100, "train_accuracy": 0.9, "test_loss": 0.3 + seed,
             "best_test_accuracy": 0.92, "wall_seconds": 3.0 + seed,
             "point": f"deep[activation={act},lr={lr}]", "seed": seed,
             "params": {"activation": act, "lr": lr}}
            for act in ("relu", "sigmoid") for lr in ("0.1", "0.01") for seed in (0, 1)]
    points, params = aggregate(rows)
    text = render(points_table(points, params), width)
    assert max(map(len, text.splitlines())) <= width
    cells = body_cells(text)
    for word in ("sigmoid", "relu", "0.9150 ± 0.0071"):
        assert word in cells, (word, text)
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    assert "activation" in header


@pytest.mark.parametrize(("name", "width", "lines"), [
    ("tiny-run-number-1", 12, ["tiny-run-", "number-1"]),
    ("deep[activation=relu,lr=0.1]-seed0", 16, ["deep[activation=", "relu,lr=0.1]-", "seed0"]),
    ("abcdefghijkl", 5, ["abcde", "fghij", "kl"]),
])
def test_run_names_fold_at_their_boundaries(name, width, lines):
    assert fold_name(name, width).splitlines() == lines


class Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_piped_output_uses_columns_or_the_terminal_else_a_default(monkeypatch):
    assert output_width(Stream(True)) is None
    monkeypatch.setenv("COLUMNS", "80")
    assert output_width(Stream(False)) == 80
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr("os.get_terminal_size", lambda fd: (_ for _ in ()).throw(OSError()))
    assert output_width(Stream(False)) == PIPED_WIDTH == 120


def test_list_shows_every_swept_learning_rate_not_the_first_points(tmp_path):
    from click.testing import CliRunner

    from mnist_doctor.cli import main

    path = tmp_path / "sweep.yaml"
    path.write_text("model: {layers: [{type: dense, units: 10}]}\ntrain: {epochs: 1}\n"
                    "optimizer: {name: sgd, learning_rate: 0.5}\n"
                    "matrix: {optimizer.learning_rate: [0.01, 0.1]}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["list", str(path)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "lr=0.01|0.1" in result.output
