"""The CLI as a user meets it: exit codes, exact error lines, the table, and no TensorFlow
for commands that only read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mnist_doctor.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["validate",
                                  "configs/baseline.yaml"], ["list"]])
def test_read_only_commands_never_import_tensorflow(args):
    code = (f"import sys\nfrom mnist_doctor.cli import main\ntry:\n    main({args!r})\n"
            "except SystemExit as done:\n    assert done.code in (0, None), done.code\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
            "'framework imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_run_prints_the_table_and_show_re_renders_it(write_config, tmp_path):
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(write_config("tiny")), "--out", str(out),
                                  "--quiet"])
    assert result.exit_code == 0, result.output
    for header in ("Run", "Status", "Test acc", "Best test", "First NaN", "Diagnosis"):
        assert header in result.output
    assert "tiny" in result.output and "completed" in result.output
    shown = runner.invoke(main, ["show", str(out)])
    assert shown.exit_code == 0 and "tiny" in shown.output and "completed" in shown.output


def test_default_output_folder_is_timestamped_under_runs(write_config, tmp_path,
                                                         monkeypatch):
    config = write_config("tiny", train={"batch_size": 50, "steps": 2, "eval_every": 2})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", str(config), "--quiet", "--label", "smoke test"])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-smoke-test") and (folder / "tiny" / "run.json").is_file()


def test_failed_run_exits_1_after_running_the_rest(write_config, tmp_path, broken_build):
    result = CliRunner().invoke(main, ["run", str(write_config("broken")),
                                       str(write_config("tiny")), "--out", str(tmp_path / "o"),
                                       "--quiet"])
    assert result.exit_code == 1
    assert "failed" in result.output and "completed" in result.output


def test_invalid_config_exits_2_and_trains_nothing(write_config, tmp_path):
    bad = write_config("bad", optimizer={"name": "sgd", "learning_rate": -1})
    out = tmp_path / "never"
    result = CliRunner().invoke(main, ["run", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert f"{bad}: optimizer.learning_rate: must be > 0.0, got -1" in result.output
    assert not out.exists()


def test_missing_data_file_exits_2_with_advice(write_config, tmp_path):
    result = CliRunner().invoke(main, ["run", str(write_config()), "--data",
                                       str(tmp_path / "missing.npz"), "--out",
                                       str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "MNIST file from --data not found" in result.output


def test_list_shows_key_settings():
    result = CliRunner().invoke(main, ["list", str(REPO / "configs" / "zero-init.yaml")])
    assert result.exit_code == 0
    assert "zero-init" in result.output and "100(relu," in result.output
    assert "zeros)" in result.output  # the cell wraps between words at narrow widths


def test_show_on_a_folder_without_runs_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["show", str(tmp_path)])
    assert result.exit_code == 2 and "no summary.csv" in result.output


def test_a_recorded_custom_loss_cannot_be_trained(tmp_path):
    """config.yaml written by mnist_doctor.Doctor for a user's own loss loads for diagnose,
    but validate/run refuse it before anything trains."""
    import yaml

    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump({"model": {"layers": [{"type": "dense", "units": 10}]},
                                    "loss": "custom", "train": {"steps": 1}}))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and "loss: custom" in result.output
