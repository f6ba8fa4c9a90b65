"""A fault on the distributed engine: a multi-node Ray cluster on one machine
(ray.cluster_utils.Cluster) loses a worker node in the middle of a sweep. The runs that were on
it become `failed` with the reason, the sweep finishes on the surviving node, and `--resume`
reruns only those runs without losing anything completed."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from mnist_doctor.config.sweep import expand
from mnist_doctor.data.mnist import DataSource
from mnist_doctor.execution.batch import Execution, run_batch
from mnist_doctor.execution.runner import RunOptions

REPO = Path(__file__).resolve().parents[1]
SWEEP = {"name": "node", "seed": 0, "data": {"train_subset": 200},
         "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                              {"type": "dense", "units": 10, "activation": "softmax"}]},
         "optimizer": {"name": "sgd", "learning_rate": 0.1},
         "train": {"batch_size": 50, "steps": 4, "eval_every": 4}, "repeats": 3}
OPTIONS = RunOptions(doctor=False, jit=False)


@pytest.fixture
def cluster(monkeypatch):
    pytest.importorskip("ray")
    import ray
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the nodes' workers import this checkout
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                            "include_dashboard": False})
    doomed = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster, doomed
    ray.shutdown()
    cluster.shutdown()


def test_a_lost_node_fails_its_runs_and_resume_reruns_only_them(cluster, tmp_path,
                                                                monkeypatch):
    from mnist_doctor.execution import ray_cluster
    from mnist_doctor.execution.executors import run_task

    cluster, doomed = cluster
    doomed_id, marker = doomed.node_id, str(tmp_path / "started-on-doomed-node")

    def run_or_hang(task):  # shipped to the workers by value
        import ray

        if ray.get_runtime_context().get_node_id() != doomed_id:
            return run_task(task)
        from mnist_doctor.runs.folder import RunFolder

        RunFolder(Path(task.invocation_dir), task.config, telemetry=False).write_run_info(
            {"name": task.config.name, "status": "running"})  # a run in progress
        Path(marker).touch()
        time.sleep(600)

    def kill_doomed_node_once_a_run_is_on_it():
        deadline = time.monotonic() + 120
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        cluster.remove_node(doomed)

    runs = list(expand(SWEEP, "node.yaml").runs)
    monkeypatch.setattr(ray_cluster.RayExecutor, "task_function", staticmethod(run_or_hang))
    killer = threading.Thread(target=kill_doomed_node_once_a_run_is_on_it, daemon=True)
    killer.start()
    first = run_batch(runs, tmp_path / "out", DataSource(), OPTIONS, Execution("ray"))
    killer.join()
    monkeypatch.undo()
    assert os.path.exists(marker), "no run was scheduled on the worker node"
    statuses = {row["name"]: row["status"] for row in first.rows}
    lost = [name for name, status in statuses.items() if status == "failed"]
    assert lost and len(statuses) == 3 and set(statuses.values()) == {"completed", "failed"}
    from mnist_doctor.runs.read import read_run_json

    for name in lost:
        error = read_run_json(tmp_path / "out" / name)["error"]
        assert error.startswith("Ray ") and "Error" in error, error
    completed = {name: (tmp_path / "out" / name / "run.json").read_text()
                 for name, status in statuses.items() if status == "completed"}

    again = run_batch(runs, tmp_path / "out", DataSource(), OPTIONS, Execution("ray"),
                      resume=True)
    assert again.resumed.todo == [i for i, run in enumerate(runs) if run.config.name in lost]
    assert [row["status"] for row in again.rows] == ["completed"] * 3
    for name, text in completed.items():  # kept as they were, not retrained
        assert (tmp_path / "out" / name / "run.json").read_text() == text
