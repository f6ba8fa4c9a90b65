"""A batch of runs into one invocation folder: the library behind `mnist-doctor run`.

Plan (unique folder names, decided before anything starts so parallel runs cannot race for
them) -> resume (keep what is recorded) -> execute (in this process, N local workers, or Ray)
-> summaries. Whatever happens, including Ctrl-C, `summary.csv` (one row per run, in plan
order) and `summary_points.csv` (one row per grid point) are written from the rows that exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from mnist_doctor.config.schema import ExperimentConfig, safe_name
from mnist_doctor.config.sweep import SweepRun, format_value
from mnist_doctor.execution.executors import (
    ProcessExecutor,
    RunTask,
    SerialExecutor,
    passed_env,
    usable_cores,
)
from mnist_doctor.execution.resume import ResumePlan, invocation_lock, plan_resume
from mnist_doctor.execution.runner import NullReporter, RunOptions
from mnist_doctor.runs.events import write_hparams
from mnist_doctor.runs.layout import find_run_dirs
from mnist_doctor.runs.points import aggregate, is_sweep, write_points
from mnist_doctor.runs.summary import row_from_folder, write_summary


@dataclass(frozen=True)
class Execution:
    """Where runs go: `local` with `jobs` worker processes (None or 1: in this process), or
    `ray` at `address` (None: a local Ray instance) with at most `jobs` tasks in flight."""

    executor: str = "local"
    jobs: int | None = None
    address: str | None = None


@dataclass
class BatchResult:
    rows: list[dict]
    points: list[dict]
    params: list[str]
    resumed: ResumePlan | None = None
    is_sweep: bool = field(default=False)


def unique_runs(runs: list[SweepRun]) -> list[SweepRun]:
    """Give every run its own folder name: a clash (the same config twice) gets -2, -3, ..."""
    seen: set[str] = set()
    out = []
    for run in runs:
        name, point, suffix = run.config.name, run.point, 1
        while safe_name(name).lower() in seen:
            suffix += 1
            name, point = f"{run.config.name}-{suffix}", f"{run.point}-{suffix}"
        seen.add(safe_name(name).lower())
        out.append(run if suffix == 1 else SweepRun(replace(run.config, name=name), point,
                                                    run.params))
    return out


def run_batch(runs: list[SweepRun | ExperimentConfig], invocation_dir: Path, source,
              options: RunOptions | None = None, execution: Execution | None = None,
              reporter=None, resume: bool = False, announce=None) -> BatchResult:
    """Train every run not already recorded; return per-run rows and per-point aggregates.

    `announce` (a print function) hears what --resume decided before anything trains."""
    runs = unique_runs([r if isinstance(r, SweepRun) else SweepRun.single(r) for r in runs])
    invocation_dir = Path(invocation_dir).resolve()
    invocation_dir.mkdir(parents=True, exist_ok=True)
    options, execution = options or RunOptions(), execution or Execution()
    reporter = reporter or NullReporter()
    rows: dict[int, dict] = {}
    with invocation_lock(invocation_dir):
        plan = plan_resume([run.config for run in runs], invocation_dir) if resume else None
        todo = plan.todo if plan else list(range(len(runs)))
        if plan and announce:
            announce(plan.describe())
        for index, row in (plan.kept if plan else {}).items():
            rows[index] = annotate(row, runs[index])
        tasks = [make_task(index, runs[index].config, invocation_dir, source, options,
                           execution) for index in todo]

        planned = {safe_name(run.config.name) for run in runs}

        def done(task: RunTask, row: dict) -> None:
            rows[task.index] = annotate(row, runs[task.index])
            write_summaries(invocation_dir, rows, planned)  # a kill -9 later still leaves these

        try:
            if tasks:
                executor_for(execution, source, reporter).run(tasks, done)
        finally:
            ordered, points, params = write_summaries(invocation_dir, rows, planned)
            if is_sweep(points, params):  # TensorBoard's HParams dashboard
                write_hparams(invocation_dir, ordered, params)
    return BatchResult(ordered, points, params, plan, is_sweep(points, params))


def write_summaries(invocation_dir: Path, rows: dict[int, dict], planned: set[str] = frozenset()):
    """summary.csv and summary_points.csv, both atomically: every run in the folder, those of
    other invocations (a --resume with fewer configs) first, then this plan's in plan order."""
    ordered = [rows[index] for index in sorted(rows)]
    everything = other_rows(invocation_dir, planned) + ordered
    write_summary(invocation_dir, everything)
    points, params = aggregate(everything)
    write_points(invocation_dir, points, params)
    return everything, points, params


def other_rows(invocation_dir: Path, planned: set[str]) -> list[dict]:
    """Rows of the recorded run folders that are not this plan's (their own files say)."""
    others = [row_from_folder(folder, invocation_dir) for folder in find_run_dirs(invocation_dir)
              if folder.name not in planned]
    return [row for row in others if row is not None]


def annotate(row: dict, run: SweepRun) -> dict:
    """Add what the sweep knows: the grid point, the seed, the point's matrix values."""
    return {**row, "point": run.point, "seed": run.config.seed,
            "params": {alias: format_value(value) for alias, value in run.params}}


def make_task(index: int, config: ExperimentConfig, invocation_dir: Path, source,
              options: RunOptions, execution: Execution) -> RunTask:
    data_path = str(Path(source.load(config.data).source).resolve())
    return RunTask(index=index, config=config, invocation_dir=str(invocation_dir),
                   data_path=data_path, options=options,
                   threads=threads_per_run(execution), env=passed_env())


def threads_per_run(execution: Execution) -> int:
    """Local workers split this machine's cores; a Ray task gets the one CPU it reserves."""
    if execution.executor == "ray":
        from mnist_doctor.execution.ray_cluster import TASK_CPUS

        return TASK_CPUS
    jobs = execution.jobs or 1
    return 0 if jobs == 1 else max(1, usable_cores() // jobs)


def executor_for(execution: Execution, source, reporter):
    if execution.executor == "ray":
        from mnist_doctor.execution.ray_cluster import RayExecutor

        return RayExecutor(execution.address, execution.jobs, reporter)
    if (execution.jobs or 1) > 1:
        return ProcessExecutor(execution.jobs, reporter)
    return SerialExecutor(source, reporter)
