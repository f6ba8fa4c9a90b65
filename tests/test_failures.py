"""Every failure explained: a failed run's reason is on screen, `diagnose` says it failed, and
a NaN run's train accuracy is measured the way its test accuracy is."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from mnist_doctor.cli import main


def test_failed_run_says_why_under_the_table_and_in_diagnose(write_config, tmp_path,
                                                            broken_build):
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
    """A stepper whose first 20 updates train well (all correct) and whose 21st goes NaN;
    evaluating the broken model answers one class (accuracy 0.1), as TensorFlow does."""

    path, notes = "fake", {}
    SHAPES = {"L0_dense": 16, "L0_relu": 16, "L1_dense": 10, "L1_softmax": 10}

    def __init__(self):
        self.steps = 0

    @property
    def broken(self) -> bool:
        return self.steps > 20

    def run(self, indices, count):
        from mnist_doctor.train.stepper import ChunkResult

        first_bad = next((i for i in range(count) if self.steps + i + 1 > 20), -1)
        self.steps += count
        return ChunkResult(float("nan") if first_bad >= 0 else 0.1 * count, 50.0 * count,
                           first_bad)

    def evaluate(self, x, y):
        from mnist_doctor.train.stepper import EvalResult

        accuracy = 0.1 if self.broken else 1.0
        return EvalResult(float("nan") if self.broken else 0.1, accuracy, np.zeros(10))

    def snapshot(self):
        return self.steps

    def restore(self, snapshot):
        self.steps = snapshot

    def weights(self):
        return {f"L{i}_dense/{name}": np.zeros(shape) for i, (fan_in, units) in
                enumerate([(784, 16), (16, 10)])
                for name, shape in (("kernel", (fan_in, units)), ("bias", (units,)))}

    def probe(self, x, y):
        from mnist_doctor.train.stepper import ProbeResult

        return ProbeResult(float("nan"), {name: np.zeros((len(x), units))
                                          for name, units in self.SHAPES.items()},
                           self.weights())


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
