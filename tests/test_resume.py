"""--resume: what is kept, what is rerun, and a real sweep interrupted midway then resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mnist_doctor.config import parse_config, safe_name
from mnist_doctor.execution.resume import SUPERSEDED, FolderInUse, invocation_lock, plan_resume
from mnist_doctor.runs.summary import record_lost

BASE = {"model": {"layers": [{"type": "dense", "units": 10, "activation": "softmax"}]},
        "train": {"steps": 5}}


def config(name: str, **changes):
    return parse_config({**BASE, "name": name, **changes}, f"{name}.yaml")


def record(invocation: Path, cfg, status: str | None, config_hash: str | None = None) -> Path:
    """A run folder as a run leaves it: config.yaml always, run.json unless killed."""
    folder = invocation / safe_name(cfg.name)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.to_yaml_dict()))
    (folder / "metrics.csv").write_text("epoch,step\n0,0\n")
    if status is not None:
        (folder / "run.json").write_text(json.dumps({
            "name": cfg.name, "status": status, "seed": 0, "started_at": "then",
            "config_hash": config_hash or cfg.config_hash(), "final": {"test_accuracy": 0.5}}))
    return folder


def test_recorded_runs_are_kept_and_everything_else_is_moved_aside(tmp_path):
    names = ["done", "nan", "failed", "stopped", "killed", "changed", "garbled", "new"]
    configs = [config(name) for name in names]
    for cfg, status in zip(configs, ["completed", "diverged", "failed", "interrupted", None,
                                     "completed", "completed"], strict=False):
        record(tmp_path, cfg, status, "0ld" if cfg.name == "changed" else None)
    (tmp_path / "garbled" / "run.json").write_text('{"status": "compl')  # cut short
    plan = plan_resume(configs, tmp_path)
    assert sorted(plan.kept) == [0, 1]
    assert plan.kept[0]["status"] == "completed" and plan.kept[0]["test_accuracy"] == 0.5
    assert plan.kept[1]["status"] == "diverged"
    assert plan.todo == [2, 3, 4, 5, 6, 7]
    assert dict(plan.reasons) == {"failed": 1, "interrupted": 1, "partial": 2,
                                  "config changed": 1, "not started": 1}
    assert plan.describe() == ("resume: 2 recorded runs kept; 6 to run (2 partial, 1 failed, "
                               "1 interrupted, 1 config changed, 1 not started)")
    for name in ("failed", "stopped", "killed", "changed", "garbled"):
        assert not (tmp_path / name).exists()
        assert (tmp_path / SUPERSEDED / name / "metrics.csv").is_file()  # moved, not deleted
    assert (tmp_path / "done" / "run.json").is_file()


def test_a_folder_is_matched_by_the_run_name_it_records(tmp_path):
    cfg = config("net[lr=0.1]-seed0")
    folder = record(tmp_path, cfg, "completed")
    folder.rename(tmp_path / "renamed-2")  # e.g. created as name-2 beside a stranger's folder
    plan = plan_resume([cfg], tmp_path)
    assert plan.kept[0]["run_dir"] == "renamed-2"


def test_moving_aside_twice_keeps_both_old_folders(tmp_path):
    cfg = config("flaky")
    for _ in range(2):
        record(tmp_path, cfg, "failed")
        plan_resume([cfg], tmp_path)
    assert sorted(p.name for p in (tmp_path / SUPERSEDED).iterdir()) == ["flaky", "flaky-2"]


def test_a_vanished_worker_leaves_a_run_json_that_says_so(tmp_path):
    cfg = config("crashy")
    folder = record(tmp_path, cfg, None)
    row = record_lost(cfg, tmp_path, "failed", "worker process died (exit code -9)")
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == row["status"] == "failed"
    assert info["config_hash"] == cfg.config_hash() and "exit code -9" in info["error"]
    assert plan_resume([cfg], tmp_path).todo == [0]


def test_the_invocation_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    with invocation_lock(tmp_path), pytest.raises(FolderInUse, match="in use"), \
            invocation_lock(tmp_path):
        pass
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / ".lock").write_text(dead)
    with invocation_lock(tmp_path) as lock:
        assert lock.read_text().strip() == str(os.getpid())
    assert not (tmp_path / ".lock").exists()


# -- a real sweep, interrupted --------------------------------------------------------------
SWEEP = {
    "name": "resumable",
    "seed": 0,
    "data": {"train_subset": 500},
    "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                         {"type": "dense", "units": 10, "activation": "softmax"}]},
    "optimizer": {"name": "sgd", "learning_rate": 0.1},
    "train": {"batch_size": 50, "steps": 2000, "eval_every": 500},
    "matrix": {"model.layers[0].activation": ["relu", "tanh"]},
    "repeats": 2,
}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mnist_doctor", "run", *args, "--quiet", "--no-doctor"]


def training(folder: Path) -> bool:
    """The run has written its step-0 evaluation: it is inside its training loop."""
    try:
        return len((folder / "metrics.csv").read_text().splitlines()) >= 2
    except OSError:
        return False


def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ctrl_c_midway_then_resume_reruns_only_what_did_not_finish(tmp_path):
    path, out = tmp_path / "sweep.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    first = out / "resumable[activation=relu]-seed0"
    second = out / "resumable[activation=relu]-seed1"
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(cli(str(path), "--out", str(out)), stderr=stderr)
        wait_for(lambda: (first / "run.json").is_file() and training(second), 240)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130, log.read_text()
    assert f"--resume {out}" in log.read_text()
    summary = (out / "summary.csv").read_text().splitlines()
    assert len(summary) == 3 and ",completed," in summary[1] and ",interrupted," in summary[2]
    assert json.loads((second / "run.json").read_text())["status"] == "interrupted"
    assert (second / "metrics.csv").read_text().startswith("epoch,step")  # the partial CSV stays
    kept = (first / "run.json").read_text(), (first / "run.json").stat().st_mtime_ns

    resumed = subprocess.run(cli(str(path), "--resume", str(out)), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resume: 1 recorded run kept; 3 to run (2 not started, 1 interrupted)" in \
        resumed.stderr
    assert ((first / "run.json").read_text(), (first / "run.json").stat().st_mtime_ns) == kept
    assert (out / SUPERSEDED / second.name / "metrics.csv").is_file()
    rows = (out / "summary.csv").read_text().splitlines()[1:]
    assert len(rows) == 4 and all(",completed," in row for row in rows)
    points = (out / "summary_points.csv").read_text().splitlines()
    assert len(points) == 3 and all(",2,2,0,0,0," in line for line in points[1:])
    assert not (out / ".lock").exists()


def test_resume_continues_its_folder_so_out_and_label_are_usage_errors(write_config, tmp_path):
    from click.testing import CliRunner

    from mnist_doctor.cli import main

    result = CliRunner().invoke(main, ["run", str(write_config()), "--resume", str(tmp_path),
                                       "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "--resume RUN_DIR continues RUN_DIR; drop --out/--label" in result.output


@pytest.mark.slow
def test_kill_9_of_a_parallel_sweep_then_resume_loses_nothing(tmp_path):
    """The parent dies without a word; its workers notice, record their runs as interrupted
    and stop, and --resume reruns exactly the runs that have no result."""
    path, out = tmp_path / "sweep.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump({**SWEEP, "train": {**SWEEP["train"], "steps": 6000}},
                                   sort_keys=False))
    process = subprocess.Popen(cli(str(path), "--out", str(out), "--jobs", "2"),
                               stderr=subprocess.DEVNULL)
    wait_for(lambda: len(list(out.glob("*/metrics.csv"))) >= 2, 300)
    time.sleep(2)
    process.kill()
    process.wait()
    wait_for(lambda: len(list(out.glob("*/run.json"))) >= 2, 60)  # the orphans stopped
    statuses = {json.loads(p.read_text())["status"] for p in out.glob("*/run.json")}
    assert statuses <= {"interrupted", "completed"}
    resumed = subprocess.run(cli(str(path), "--resume", str(out), "--jobs", "2"),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    rows = (out / "summary.csv").read_text().splitlines()[1:]
    assert len(rows) == 4 and all(",completed," in row for row in rows)
