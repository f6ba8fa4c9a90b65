"""--jobs N and --executor ray: the same sweep gives the same summary as a serial run, and a
worker that dies becomes a failed run instead of a hang."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnist_doctor.config import safe_name
from mnist_doctor.config.sweep import expand
from mnist_doctor.data.mnist import DataSource
from mnist_doctor.execution.batch import Execution, make_task, run_batch
from mnist_doctor.execution.executors import ProcessExecutor
from mnist_doctor.execution.runner import NullReporter, RunOptions

SWEEP = {
    "name": "par",
    "seed": 0,
    "data": {"train_subset": 500},
    "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                         {"type": "dense", "units": 10, "activation": "softmax"}]},
    "optimizer": {"name": "sgd", "learning_rate": 0.1},
    "train": {"batch_size": 50, "steps": 20, "eval_every": 10},
    "matrix": {"model.layers[0].activation": ["sigmoid", "relu"]},
    "repeats": 2,
}
# Graph mode: every fresh worker process would otherwise spend seconds compiling XLA.
OPTIONS = RunOptions(doctor=False, jit=False)
METRICS = ("train_accuracy", "test_accuracy", "train_loss", "test_loss", "best_test_accuracy")


@pytest.fixture(scope="module")
def runs():
    return list(expand(SWEEP, "par.yaml").runs)


@pytest.fixture(scope="module")
def serial(runs, tmp_path_factory):
    return run_batch(runs, tmp_path_factory.mktemp("serial"), DataSource(), OPTIONS)


def assert_same_summary(expected, actual) -> None:
    """Same runs, statuses and folders; same numbers for the same seeds (CPU, fp tolerance)."""
    assert [r["name"] for r in actual.rows] == [r["name"] for r in expected.rows]
    assert [r["status"] for r in actual.rows] == ["completed"] * len(expected.rows)
    assert [r["run_dir"] for r in actual.rows] == [r["run_dir"] for r in expected.rows]
    for want, got in zip(expected.rows, actual.rows, strict=True):
        for metric in METRICS:
            assert got[metric] == pytest.approx(want[metric], rel=1e-4, abs=1e-4), metric
    assert [(p["point"], p["runs"], p["completed"]) for p in actual.points] == \
        [(p["point"], p["runs"], p["completed"]) for p in expected.points]
    assert actual.params == expected.params == ["activation"] and actual.is_sweep


def test_serial_sweep_writes_both_summaries(serial):
    folder = Path(serial.rows[0]["run_dir"])
    assert len(serial.rows) == 4 and [p["runs"] for p in serial.points] == [2, 2]
    assert folder.name == "par[activation=sigmoid]-seed0"


def test_jobs_2_gives_the_serial_summary(runs, serial, tmp_path):
    result = run_batch(runs, tmp_path, DataSource(), OPTIONS, Execution("local", jobs=2))
    assert_same_summary(serial, result)
    assert (tmp_path / "summary.csv").is_file() and (tmp_path / "summary_points.csv").is_file()


def die_in_worker(task, connection) -> None:
    """Stand-in worker body: make the run folder, then die as the OOM killer would leave it."""
    (Path(task.invocation_dir) / safe_name(task.config.name)).mkdir()
    os._exit(3)


class DyingWorkers(ProcessExecutor):
    target = staticmethod(die_in_worker)


def tasks_for(runs, invocation_dir: Path, execution: Execution):
    return [make_task(i, run.config, invocation_dir, DataSource(), OPTIONS, execution)
            for i, run in enumerate(runs)]


def test_a_dead_worker_process_becomes_a_failed_run(runs, tmp_path):
    rows = []
    tasks = tasks_for(runs[:2], tmp_path, Execution("local", 2))
    DyingWorkers(2, NullReporter()).run(tasks, lambda task, row: rows.append(row))
    assert [row["status"] for row in rows] == ["failed", "failed"]
    for run in runs[:2]:
        run_json = (tmp_path / safe_name(run.config.name) / "run.json").read_text()
        assert '"status": "failed"' in run_json and "exit code 3" in run_json


# -- Ray -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_gives_the_serial_summary(runs, serial, local_ray, tmp_path):
    result = run_batch(runs, tmp_path, DataSource(), OPTIONS, Execution("ray"))
    assert_same_summary(serial, result)
    assert local_ray.is_initialized()  # a connection the caller made is left open


def test_a_crashed_ray_task_becomes_a_failed_run_not_a_hang(runs, local_ray, tmp_path):
    from mnist_doctor.execution.ray_cluster import RayExecutor

    def die(task):  # a local function: Ray ships it by value
        os._exit(1)

    class DyingTasks(RayExecutor):
        task_function = staticmethod(die)

    rows = []
    tasks = tasks_for(runs[:1], tmp_path, Execution("ray"))
    DyingTasks(None, None, NullReporter()).run(tasks, lambda task, row: rows.append(row))
    assert [row["status"] for row in rows] == ["failed"]


# -- the done-when, end to end through the CLI (slow: ~48 fresh processes) ----------
GRID = {**SWEEP, "name": "deep-net", "train": {"batch_size": 50, "steps": 40, "eval_every": 20},
        "model": {"layers": [{"type": "dense", "units": 32, "activation": "relu"},
                             {"type": "dense", "units": 32, "activation": "relu"},
                             {"type": "dense", "units": 10, "activation": "softmax"}]},
        "matrix": {"model.layers[0].activation": ["sigmoid", "relu"],
                   "optimizer.name": ["sgd", "adam"], "optimizer.learning_rate": [0.01, 0.1]},
        "repeats": 2}


def cli_run(*args: str, timeout: float = 900):
    import subprocess
    import sys

    command = [sys.executable, "-m", "mnist_doctor", "run", *args, "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def summary(folder: Path) -> list[dict]:
    import csv

    with (folder / "summary.csv").open(newline="") as stream:
        return list(csv.DictReader(stream))


def interrupt_after(config: Path, out: Path, finished: int) -> None:
    """Start a serial sweep and Ctrl-C it once `finished` runs have their run.json."""
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-m", "mnist_doctor", "run", str(config),
                                "--out", str(out), "--quiet"], stderr=subprocess.DEVNULL)
    while len(list(out.glob("*/run.json"))) < finished:
        assert process.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=300) == 130


@pytest.mark.slow
def test_a_2x2x2_grid_with_repeats_resumes_and_fans_out_to_the_same_summary(tmp_path):
    import yaml

    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(GRID, sort_keys=False))
    serial = tmp_path / "serial"
    interrupt_after(config, serial, finished=5)
    before = {p.parent.name: p.stat().st_mtime_ns for p in serial.glob("*/run.json")
              if '"completed"' in p.read_text()}
    resumed = cli_run(str(config), "--resume", str(serial))
    assert resumed.returncode == 0, resumed.stderr
    assert {name: (serial / name / "run.json").stat().st_mtime_ns for name in before} == before
    rows = summary(serial)
    assert len(rows) == 16 and {row["status"] for row in rows} == {"completed"}
    assert "mnist-doctor sweep" in resumed.stdout and "±" in resumed.stdout
    for flags in (["--jobs", "2"], ["--executor", "ray"]):
        out = tmp_path / flags[-1]
        result = cli_run(str(config), "--out", str(out), *flags)
        assert result.returncode == 0, result.stderr
        others = summary(out)
        assert [(r["name"], r["status"]) for r in others] == [(r["name"], r["status"])
                                                              for r in rows]
        for want, got in zip(rows, others, strict=True):
            for metric in METRICS:
                assert float(got[metric]) == pytest.approx(float(want[metric]), abs=2e-3)
        points = (out / "summary_points.csv").read_text().splitlines()
        assert len(points) == 9 and all(",2,2,0,0,0," in line for line in points[1:])


def test_address_without_the_ray_executor_is_a_usage_error(write_config):
    from click.testing import CliRunner

    from mnist_doctor.cli import main

    result = CliRunner().invoke(main, ["run", str(write_config()), "--address", "auto"])
    assert result.exit_code == 2 and "--address needs --executor ray" in result.output
