"""`mnist-doctor treat RUN_DIR`: treatment trials for runs that already finished."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from mnist_doctor.cli.console import UsageProblem, live_progress, stderr, stdout
from mnist_doctor.cli.quiet import library_logs
from mnist_doctor.cli.run import execution_for


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data_path", type=click.Path(dir_okay=False),
              help="mnist.npz in Keras layout (after data.path, before $MNIST_DOCTOR_DATA).")
@click.option("--trial-steps", type=click.IntRange(min=1), help="Train each trial this many "
              "steps instead of the treated run's budget.")
@click.option("--backend", type=click.Choice(["tensorflow", "jax"]), help="Keras backend for "
              "the trials (default: the one the run was trained on).")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
              show_default=True, help="Where to train the trials.")
@click.option("--jobs", type=click.IntRange(min=1), help="Trials at once (worker processes, or "
              "Ray tasks in flight with --executor ray).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where trials execute.")
@click.option("--address", help="Ray cluster to join (with --executor ray).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print each run's treatment as JSON.")
@click.option("--verbose", is_flag=True, help="Also show the libraries' own logs and warnings.")
def treat(verbose, **options) -> None:
    """Run treatment trials on a finished run (or on every run of an invocation folder):
    rerun it with one fix applied, rank the causes by what cures, write fixed.yaml."""
    with library_logs(verbose):
        treat_runs(**options)


def treat_runs(run_dir, data_path, trial_steps, backend, device, jobs, executor, address, quiet,
               as_json) -> None:
    from mnist_doctor.config import ConfigError, load_config
    from mnist_doctor.data.mnist import DataError, DataSource
    from mnist_doctor.report.treatment_table import treatment_table
    from mnist_doctor.runs.layout import find_run_dirs
    from mnist_doctor.runs.read import read_run_json
    from mnist_doctor.train.backends import select_backend

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    run_dirs = find_run_dirs(Path(run_dir))
    if not run_dirs:
        raise UsageProblem(f"{run_dir}: no run folders (folders with run.json) found")
    execution = execution_for(executor, jobs, address)
    recorded = (read_run_json(run_dirs[0]) or {}).get("backend")
    try:
        select_backend(backend or recorded or "tensorflow")
    except ValueError as err:
        raise UsageProblem(str(err)) from err
    source = DataSource(data_path)
    try:
        for path in run_dirs:
            source.load(load_config(path / "config.yaml").data)
    except (DataError, ConfigError) as err:
        raise UsageProblem(str(err)) from err
    with live_progress(quiet) as reporter:  # stopped before the tables print
        out = treat_each(run_dirs, source, device, execution, reporter, trial_steps)
    for name, treatment in out.items():
        if not as_json:
            stdout.print(treatment_table(name, treatment))
            if treatment.get("fixed"):
                stdout.print(f"fixed config: {treatment['fixed']}", soft_wrap=True,
                             highlight=False)
    if as_json:
        click.echo(json.dumps(out, indent=2))


def treat_each(run_dirs, source, device, execution, reporter, trial_steps) -> dict:
    """Treat each run folder; its treatment (diagnosis.json's part, fixed.yaml, cost) by name."""
    from mnist_doctor.execution.runner import RunOptions
    from mnist_doctor.execution.treat import TreatError, treat_run
    from mnist_doctor.runs.read import read_treatment

    out = {}
    for path in run_dirs:
        try:
            done = treat_run(path, source, RunOptions(device=device), execution, reporter,
                             trial_steps)
        except TreatError as err:
            stderr.print(f"[yellow]skipped:[/] {err}", soft_wrap=True)
            continue
        except KeyboardInterrupt:
            stderr.print(f"interrupted: the trials so far are in {path}/treatments")
            sys.exit(130)
        treatment = read_treatment(path / "diagnosis.json")
        out[done.name] = {**treatment, "fixed": str(done.fixed) if done.fixed else None,
                          "trials": done.trials, "seconds": done.seconds}
    return out
