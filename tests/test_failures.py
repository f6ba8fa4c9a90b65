"""Every failure explained: a failed run's reason is on screen, `diagnose` says it failed, and
a NaN run's train accuracy is measured the way its test accuracy is."""

from __future__ import annotations

import numpy as np
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


class NanAfterGoodSteps:
    """A stepper whose first chunks train well (all correct) and whose chunk at step 20 goes
    NaN; evaluating the broken model answers one class (accuracy 0.1), as TensorFlow does."""

    path, notes = "fake", {}

    def __init__(self):
        self.steps = 0
        self.broken = False

    def run(self, indices, count):
        from mnist_doctor.train.stepper import ChunkResult

        self.steps += count
        self.broken = self.steps > 20
        return ChunkResult(float("nan") if self.broken else 0.1 * count,
                           50.0 * count, 0 if self.broken else -1)

    def evaluate(self, x, y):
        from mnist_doctor.train.stepper import EvalResult

        accuracy = 0.1 if self.broken else 1.0
        return EvalResult(float("nan") if self.broken else 0.1, accuracy, np.zeros(10))


def test_a_nan_runs_train_accuracy_is_measured_like_its_test_accuracy(tmp_path, write_config):
    import yaml

    from mnist_doctor.config.loader import parse_config
    from mnist_doctor.data.mnist import Prepared
    from mnist_doctor.runs.folder import RunFolder
    from mnist_doctor.train.trainer import Trainer

    tiny = yaml.safe_load(write_config().read_text(encoding="utf-8"))
    config = parse_config({**tiny, "train": {"batch_size": 50, "steps": 40,
                                                    "eval_every": 30}}, "nan.yaml")
    x, y = np.zeros((600, 784), "float32"), np.eye(10, dtype="float32")[np.arange(600) % 10]
    folder = RunFolder(tmp_path, config, telemetry=False)
    outcome = Trainer(config, Prepared(x, y, x[:100], y[:100]), folder, NanAfterGoodSteps(),
                      doctor=False).run()
    folder.close()
    assert outcome.status == "diverged"
    # before: the window's 0.96 from the good steps sat next to the broken model's 0.1
    assert outcome.final["train_accuracy"] == outcome.final["test_accuracy"] == 0.1
