"""Every failure explained: a failed run's reason is on screen, `diagnose` says it failed, and
a NaN run's train accuracy is measured the way its test accuracy is."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mnist_doctor.cli import main


def test_failed_run_says_why_under_the_table_and_in_diagnose(write_config, tmp_path,
                                                            monkeypatch):
    import mnist_doctor.model.build

    real = mnist_doctor.model.build.build_model

    def build(config):
        if config.name == "broken":
            raise ValueError("simulated build failure")
        return real(config)

    monkeypatch.setattr(mnist_doctor.model.build, "build_model", build)
    tiny = {"batch_size": 50, "steps": 2, "eval_every": 2}
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(write_config("broken", train=tiny)),
                                       str(write_config("fine", train=tiny)), "--out", str(out),
                                       "--quiet"])
    assert result.exit_code == 1
    table_end = result.output.rindex("└")
    assert "failed: broken: ValueError: simulated build failure" in result.output[table_end:]
    assert "fine:" not in result.output[table_end:]
    shown = CliRunner().invoke(main, ["show", str(out)])
    assert "failed: broken: ValueError: simulated build failure" in shown.output
    diagnosed = CliRunner().invoke(main, ["diagnose", str(out)])
    assert "broken: failed: ValueError: simulated build failure" in diagnosed.output
    assert "broken: no problems found" not in diagnosed.output


def test_a_nan_runs_train_accuracy_is_measured_like_its_test_accuracy(write_config, tmp_path):
    nan = write_config("nan", data={"train_subset": 600, "normalize": False}, loss="naive_log",
                       optimizer={"name": "sgd", "learning_rate": 0.5},
                       train={"batch_size": 50, "steps": 12, "eval_every": 12})
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(nan), "--out", str(out), "--quiet",
                                       "--no-doctor"])
    assert result.exit_code == 0, result.output
    final = json.loads((out / "nan" / "run.json").read_text())["final"]
    assert final["test_accuracy"] > 0.05  # every NaN output is read as one class
    assert abs(final["train_accuracy"] - final["test_accuracy"]) < 0.1, final
