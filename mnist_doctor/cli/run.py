"""`mnist-doctor run`: train configs into an invocation folder and print what they did."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mnist_doctor.cli.console import (
    UsageProblem,
    live_progress,
    load_sweeps,
    refuse_oversized,
    stderr,
    stdout,
)
from mnist_doctor.cli.quiet import library_logs


@click.command()
@click.argument("configs", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Invocation folder "
              "(default: runs/<YYYYmmdd-HHMMSS>[-label]).")
@click.option("--label", help="Suffix for the default invocation folder name.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False),
              help="mnist.npz in Keras layout (after data.path, before $MNIST_DOCTOR_DATA).")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
              show_default=True, help="Where to train.")
@click.option("--backend", type=click.Choice(["tensorflow", "jax"]), default="tensorflow",
              show_default=True, help="Keras backend to train on (jax: pip install "
              "mnist-doctor[jax]).")
@click.option("--no-doctor", is_flag=True, help="Turn telemetry off (static and metric-based "
              "diagnosis still run).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--check", is_flag=True, help="Add a Check column (each config's expect: block) "
              "and exit 1 if any expectation fails, after all runs.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False),
              help="Write JUnit XML: a test case per run, a failure per broken expectation.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout instead "
              "of the table (progress stays on stderr).")
@click.option("--jobs", type=click.IntRange(min=1), help="Runs at once: local worker processes, "
              "a fresh one per run (default 1: in this process); with --executor ray, the most "
              "tasks in flight (default: as many as the cluster has CPUs).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where runs execute (ray: pip install mnist-doctor[ray]).")
@click.option("--address", help="Ray cluster to join (auto, ray://HOST:10001, HOST:6379); "
              "default: start a local Ray instance.")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False),
              help="Continue this invocation folder: keep completed/diverged runs with the same "
              "config hash, rerun failed, interrupted and partial ones.")
@click.option("--all-columns", is_flag=True, help="Sweep table: show every column, not only "
              "those that differ between grid points.")
@click.option("--treat", is_flag=True, help="After the runs, run treatment trials: rerun each "
              "diagnosed run with one fix applied (then the best combination), rank the causes "
              "by what cures, and write fixed.yaml.")
@click.option("--trial-steps", type=click.IntRange(min=1), help="With --treat: train each "
              "trial this many steps instead of the treated run's budget.")
@click.option("--verbose", is_flag=True, help="Also show the libraries' own logs and warnings "
              "(TensorFlow's C++ start-up lines, numpy, matplotlib).")
def run(verbose, **options) -> None:
    """Train each CONFIG, write run folders and print the comparison table."""
    with library_logs(verbose):
        run_configs(**options)


def run_configs(configs, out, label, data_path, device, backend, no_doctor, quiet, check,
                junit_path, as_json, jobs, executor, address, resume_dir, all_columns, treat,
                trial_steps) -> None:
    from mnist_doctor.data.mnist import DataError, DataSource
    from mnist_doctor.execution.batch import run_batch
    from mnist_doctor.execution.runner import RunOptions
    from mnist_doctor.runs.folder import record_configs
    from mnist_doctor.train.backends import select_backend

    configs = configs_for(configs, resume_dir)
    sweeps = load_sweeps(configs)
    refuse_oversized(sweeps)
    experiments = [run.config for sweep in sweeps for run in sweep.runs]
    execution = execution_for(executor, jobs, address)
    source = DataSource(data_path)
    try:
        for experiment in experiments:
            source.load(experiment.data)
    except DataError as err:
        raise UsageProblem(str(err)) from err
    try:
        select_backend(backend)  # before anything imports Keras
    except ValueError as err:
        raise UsageProblem(str(err)) from err
    invocation_dir = invocation_dir_for(out, label, resume_dir)
    record_configs(invocation_dir, list(configs))
    options = RunOptions(doctor=not no_doctor, device=device)
    runs = [run for sweep in sweeps for run in sweep.runs]
    try:
        with live_progress(quiet) as reporter:  # stopped before anything below prints
            result = run_batch(runs, invocation_dir, source, options, execution, reporter,
                               resume=resume_dir is not None, announce=stderr.print)
    except KeyboardInterrupt:
        draw_curves(invocation_dir)
        stderr.print(f"interrupted: finished runs and the partial run are in {invocation_dir}"
                     f"; continue with: mnist-doctor run --resume {invocation_dir}",
                     soft_wrap=True)
        sys.exit(130)
    except RuntimeError as err:  # e.g. --device gpu with no GPU, folder in use, no Ray
        raise UsageProblem(str(err)) from err
    rows = result.rows
    if treat:
        with live_progress(quiet) as reporter:
            rows = treat_rows(invocation_dir, rows, source, RunOptions(device=device),
                              execution, reporter, trial_steps)
    sweep = (result.points, result.params, all_columns) if result.is_sweep else None
    sys.exit(print_results(invocation_dir, rows, check, junit_path, as_json, sweep, treat))


def treat_rows(invocation_dir: Path, rows: list[dict], source, options, execution, reporter,
               trial_steps: int | None) -> list[dict]:
    """Treat every finished run; the rows come back with their re-ranked top finding."""
    from mnist_doctor.execution.treat import treat_batch

    try:
        return treat_batch(invocation_dir, rows, source, options, execution, reporter,
                           trial_steps)
    except KeyboardInterrupt:
        stderr.print(f"interrupted during treatment trials; the runs are in {invocation_dir}",
                     soft_wrap=True)
        sys.exit(130)


def configs_for(configs: tuple[str, ...], resume_dir: str | None) -> tuple[str, ...]:
    """The configs given; with `--resume DIR` alone, those DIR recorded (invocation.json)."""
    from mnist_doctor.runs.folder import read_configs

    if configs:
        return configs
    if resume_dir is None:
        raise UsageProblem("give at least one CONFIG (or --resume RUN_DIR to continue one)")
    recorded = read_configs(Path(resume_dir))
    if not recorded:
        raise UsageProblem(f"{resume_dir} records no configs (no invocation.json, no run.json "
                           "with a config_path); give them: mnist-doctor run CONFIG... --resume "
                           f"{resume_dir}")
    missing = [path for path in recorded if not Path(path).is_file()]
    if missing:
        raise UsageProblem(f"{resume_dir} was run with configs that are gone: "
                           f"{', '.join(missing)}; give the configs to resume with")
    return tuple(recorded)


def execution_for(executor: str, jobs: int | None, address: str | None):
    """--executor/--jobs/--address, checked before anything is created or trained."""
    from mnist_doctor.execution.batch import Execution

    if address and executor != "ray":
        raise UsageProblem("--address needs --executor ray")
    if executor == "ray":
        from mnist_doctor.execution.ray_cluster import RayUnavailable, require_ray

        try:
            require_ray()
        except RayUnavailable as err:
            raise UsageProblem(str(err)) from err
    return Execution(executor, jobs, address)


def invocation_dir_for(out: str | None, label: str | None, resume_dir: str | None) -> Path:
    from mnist_doctor.runs.folder import OutputFolderError, create_invocation_dir

    if resume_dir is None:
        try:
            return create_invocation_dir(out, label)
        except OutputFolderError as err:
            raise UsageProblem(str(err)) from err
    if out or label:
        raise UsageProblem("--resume RUN_DIR continues RUN_DIR; drop --out/--label")
    return Path(resume_dir)


def print_results(invocation_dir: Path, rows: list[dict], check: bool, junit_path: str | None,
                  as_json: bool, sweep: tuple | None = None, treated: bool = False) -> int:
    """curves.png, then JUnit, then the table or the JSON; returns the exit code."""
    from mnist_doctor.report.junit import write_junit
    from mnist_doctor.report.results import (
        exit_code,
        failure_lines,
        json_summary,
        load_results,
        with_checks,
    )
    from mnist_doctor.report.table import comparison_table

    results = load_results(invocation_dir, rows)
    draw_curves(invocation_dir)
    if junit_path:
        stderr.print(f"JUnit XML: {write_junit(Path(junit_path), results)}")
    if as_json:
        click.echo(json.dumps(json_summary(invocation_dir, results), indent=2))
    else:
        shown = with_checks(rows, results) if check else rows
        if sweep is None or check:  # checks are per run: keep the per-run table
            stdout.print(comparison_table(shown, title=f"mnist-doctor: {invocation_dir}",
                                          checks=check))
        if sweep is not None:
            from mnist_doctor.report.sweep_table import points_table

            points, params, all_columns = sweep
            stdout.print(points_table(points, params, f"mnist-doctor sweep: {invocation_dir}",
                                      all_columns))
        for line in failure_lines(results):
            stdout.print(line, soft_wrap=True, highlight=False)
        if treated:
            from mnist_doctor.report.treatment_table import treatment_table

            for result in results:
                if result.treatment:
                    stdout.print(treatment_table(result.name, result.treatment))
    return exit_code(results, check)


def draw_curves(invocation_dir: Path) -> None:
    from mnist_doctor.report.results import write_curves

    path, problem = write_curves(invocation_dir)
    if problem and path is None and problem != "no run folders":
        stderr.print(f"[yellow]warning:[/] curves.png not drawn: {problem}")


