"""The training schedule and real (tiny) runs on MNIST: rows, telemetry, NaN, failures, Ctrl-C."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from mnist_doctor.config import load_config, parse_config
from mnist_doctor.data.mnist import DataSource
from mnist_doctor.execution.batch import run_batch
from mnist_doctor.execution.runner import RunInterrupted, RunOptions
from mnist_doctor.train.schedule import batch_stream, eval_steps, probe_steps


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def steps_config(**train):
    return parse_config({"model": {"layers": [{"type": "dense", "units": 10}]},
                         "train": train}, "s.yaml")


def test_eval_steps_per_epoch_and_per_interval():
    assert eval_steps(steps_config(batch_size=100, epochs=2), 1000) == {0, 10, 20}
    assert eval_steps(steps_config(batch_size=100, steps=25, eval_every=10), 1000) == {
        0, 10, 20, 25}
    assert eval_steps(steps_config(batch_size=300, epochs=1), 1000) == {0, 4}  # partial batch


def test_probe_steps_cover_the_start_and_the_whole_run():
    steps = probe_steps(10_000)
    assert {0, 1, 2, 3, 4} <= steps and len(steps) >= 20
    assert max(steps) > 9_000 and all(s < 10_000 for s in steps)
    assert probe_steps(3) == {0, 1, 2}


def test_batches_visit_every_example_once_per_epoch_with_a_partial_last_batch():
    stream = batch_stream(10, 4, seed=0)
    epoch = [next(stream) for _ in range(3)]
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(np.concatenate(epoch)) == list(range(10))
    again = batch_stream(10, 4, seed=0)
    assert all(np.array_equal(a, next(again)) for a in epoch)


@pytest.fixture
def run(tmp_path):
    """run(*config_paths) -> (summary rows, invocation dir) of a real run on MNIST."""
    def run_configs(*paths, **options):
        out = tmp_path / "out"
        configs = [load_config(p) for p in paths]
        return run_batch(configs, out, DataSource(None), **options).rows, out
    return run_configs


def test_tiny_run_writes_every_file(write_config, run):
    rows, out = run(write_config("tiny"))
    assert rows[0]["status"] == "completed"
    metrics = read_csv(out / "tiny" / "metrics.csv")
    assert [int(r["step"]) for r in metrics] == [0, 12, 24]
    assert list(metrics[0]) == ["epoch", "step", "train_loss", "train_accuracy", "test_loss",
                                "test_accuracy", "seconds", "nan"]
    assert float(metrics[-1]["test_accuracy"]) > 0.5  # 24 Adam steps already learn
    info = json.loads((out / "tiny" / "run.json").read_text())
    assert info["seed"] == 0 and info["device"] == "CPU" and info["backend"] == "tensorflow"
    assert {"python", "tensorflow", "keras", "numpy"} <= set(info["versions"])
    assert info["final"]["test_accuracy"] == pytest.approx(float(metrics[-1]["test_accuracy"]))
    assert load_config(out / "tiny" / "config.yaml").config_hash() == info["config_hash"]
    assert read_csv(out / "summary.csv")[0]["name"] == "tiny"


def test_telemetry_has_per_layer_statistics(write_config, run):
    rows, out = run(write_config("tiny"))
    telemetry = read_csv(out / "tiny" / "telemetry.csv")
    metrics = {(r["layer"], r["metric"]) for r in telemetry}
    for metric in ("kernel_grad_norm", "update_ratio", "unit_spread", "act_zero_frac",
                   "preact_large_frac", "dead_unit_frac"):
        assert ("L0_dense", metric) in metrics
    assert ("", "loss") in metrics and ("output", "pred_frac_1") in metrics
    probed = {int(r["step"]) for r in telemetry if r["metric"] == "kernel_grad_norm"}
    assert {0, 1, 2, 3, 4} <= probed and len(probed) >= 20


def test_same_seed_same_numbers(write_config, run, tmp_path):
    first, out = run(write_config("tiny"))
    second = run_batch([load_config(write_config("tiny"))], tmp_path / "again",
                             DataSource(None)).rows
    assert first[0]["test_accuracy"] == second[0]["test_accuracy"]


@pytest.mark.parametrize(("kernel_jitter", "gradient_jitter", "identical"),
                         [(0.0, 0.0, True), (1e-7, 0.0, False), (0.0, 6e-8, False)])
def test_a_constant_init_stays_exactly_symmetric_unless_jittered(write_config, run, kernel_jitter,
                                                                  gradient_jitter, identical):
    kernel = {"constant": 0.0, **({"jitter": kernel_jitter} if kernel_jitter else {})}
    layers = [{"type": "dense", "units": 16, "activation": "tanh", "kernel_init": kernel,
               "bias_init": {"constant": 0.1}},
              {"type": "dense", "units": 10, "activation": "softmax",
               "kernel_init": {"constant": 0.0}}]  # random weights here would break the tie
    optimizer = {"name": "sgd", "learning_rate": 0.1, "gradient_jitter": gradient_jitter}
    _, out = run(write_config("sym", model={"layers": layers}, optimizer=optimizer))
    spreads = [float(r["value"]) for r in read_csv(out / "sym" / "telemetry.csv")
               if r["layer"] == "L0_dense" and r["metric"] == "unit_spread"]
    assert len(spreads) >= 20
    if identical:
        assert set(spreads) == {0.0}
    elif kernel_jitter:  # apart from the start, by about the jitter
        assert min(spreads) > 0 and spreads[0] <= 2 * kernel_jitter
    else:  # identical at the start; apart once a perturbed non-zero gradient lands (step 2:
        # with the next layer's kernel at 0, this layer's first gradient is exactly 0)
        assert spreads[0] == spreads[1] == 0.0 and min(spreads[2:]) > 0


def test_nan_run_is_recorded_and_the_sweep_goes_on(write_config, run):
    nan = write_config("nan", data={"train_subset": 600, "normalize": False}, loss="naive_log",
                       optimizer={"name": "sgd", "learning_rate": 0.5})
    rows, out = run(nan, write_config("tiny"))
    assert [r["status"] for r in rows] == ["diverged", "completed"]
    info = json.loads((out / "nan" / "run.json").read_text())
    assert info["first_nan_step"] >= 1 and info["first_nonfinite_layer"] is not None
    last = read_csv(out / "nan" / "metrics.csv")[-1]
    assert last["nan"] == "1" and last["train_loss"] == "nan"


def test_a_diverged_run_records_the_same_whether_the_doctor_is_on_or_off(write_config, tmp_path):
    """The run stops at exactly the first non-finite step in both modes, whatever the probe
    and chunk boundaries, and names where the non-finite value appeared either way."""
    config = load_config(write_config(
        "diverge", data={"train_subset": 600}, loss="naive_log",
        optimizer={"name": "adam", "learning_rate": 0.1},  # NaN at step 47 with seed 0
        train={"batch_size": 50, "steps": 200, "eval_every": 50}))
    records = {}
    for doctor in (True, False):
        out = tmp_path / f"doctor-{doctor}"
        run_batch([config], out, DataSource(None), RunOptions(doctor=doctor))
        info = json.loads((out / "diverge" / "run.json").read_text())
        metrics = [{k: v for k, v in row.items() if k != "seconds"}
                   for row in read_csv(out / "diverge" / "metrics.csv")]
        records[doctor] = info, metrics
    (on, on_rows), (off, off_rows) = records[True], records[False]
    assert on["status"] == off["status"] == "diverged"
    assert on_rows == off_rows
    assert on["steps_completed"] == off["steps_completed"] == on["first_nan_step"]
    assert int(on_rows[-1]["step"]) == on["first_nan_step"] and on_rows[-1]["nan"] == "1"
    for key in ("first_nan_step", "first_nan_epoch", "epochs_completed", "first_nonfinite_layer"):
        assert on[key] == off[key], key
    assert on["first_nonfinite_layer"] is not None
    assert on["first_nan_step"] % 50 and on["first_nan_step"] > 4  # mid-chunk, past the probes


def test_failed_run_is_data(write_config, run, monkeypatch):
    import mnist_doctor.model.build

    def broken(config):
        raise MemoryError("simulated")

    monkeypatch.setattr(mnist_doctor.model.build, "build_model", broken)
    rows, out = run(write_config("tiny"))
    info = json.loads((out / "tiny" / "run.json").read_text())
    assert rows[0]["status"] == info["status"] == "failed"
    assert info["error"] == "MemoryError: simulated"


class InterruptingReporter:
    """Presses Ctrl-C once the run has passed `at_step`."""

    def __init__(self, at_step):
        self.at_step = at_step

    def start(self, name, total):
        def progress(step, total, loss, accuracy):
            if step >= self.at_step:
                raise KeyboardInterrupt
        return progress

    def finish(self, row):
        pass


def test_ctrl_c_keeps_finished_runs_and_the_partial_csv(write_config, run, tmp_path):
    first, second = write_config("first"), write_config("second", train={
        "batch_size": 50, "steps": 400, "eval_every": 100})
    configs = [load_config(first), load_config(second)]
    out = tmp_path / "out"
    with pytest.raises(RunInterrupted):
        run_batch(configs, out, DataSource(None), reporter=InterruptingReporter(150))
    summary = read_csv(out / "summary.csv")
    assert [(r["name"], r["status"]) for r in summary] == [
        ("first", "completed"), ("second", "interrupted")]
    partial = read_csv(out / "second" / "metrics.csv")
    assert [int(r["step"]) for r in partial] == [0, 100]
    assert json.loads((out / "second" / "run.json").read_text())["status"] == "interrupted"
