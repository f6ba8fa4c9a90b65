"""The `mnist-doctor` command: parse options, call one library function, print its result.

Results go to stdout, progress and errors to stderr. TensorFlow is imported only once a run
starts, so `--help`, `validate`, `list`, `show` and `diagnose` answer instantly.
Exit codes: 0 every run completed or diverged (a recorded result); 1 a run failed with an
error; 2 bad usage, config or data (nothing trained); 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mnist_doctor.config import ConfigError, ExperimentConfig
from mnist_doctor.sweep import Sweep, load_sweep

# Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
stdout = Console(width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class UsageProblem(click.ClickException):
    """Bad config, data or usage: nothing was trained; exit 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        stderr.print(f"[bold red]error:[/] {escape(self.message)}", highlight=False,
                     soft_wrap=True)


def load_sweeps(paths: tuple[str, ...]) -> list[Sweep]:
    """Every file expanded (matrix, repeats), or one UsageProblem listing every problem."""
    sweeps, problems = [], []
    for path in paths:
        try:
            sweeps.append(load_sweep(path))
        except ConfigError as err:
            problems += [f"{err.path}: {key}: {message}" for key, message in err.problems]
    if problems:
        raise UsageProblem("invalid config\n" + "\n".join(problems))
    return sweeps


def load_all(paths: tuple[str, ...]) -> list[ExperimentConfig]:
    """Every run's config (a sweep file gives several), or one UsageProblem."""
    return [run.config for sweep in load_sweeps(paths) for run in sweep.runs]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mnist-doctor")
def main() -> None:
    """Reproduce, measure and diagnose the classic ways an MNIST network fails to learn."""


@main.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
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
def run(configs, out, label, data_path, device, backend, no_doctor, quiet, check, junit_path,
        as_json, jobs, executor, address, resume_dir, all_columns) -> None:
    """Train each CONFIG, write run folders and print the comparison table."""
    from mnist_doctor.backends import select_backend
    from mnist_doctor.batch import run_batch
    from mnist_doctor.data import DataError, DataSource
    from mnist_doctor.runner import RunOptions

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    sweeps = load_sweeps(configs)
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
    reporter = None if quiet else ProgressReporter()
    options = RunOptions(doctor=not no_doctor, device=device)
    runs = [run for sweep in sweeps for run in sweep.runs]
    try:
        result = run_batch(runs, invocation_dir, source, options, execution, reporter,
                           resume=resume_dir is not None, announce=stderr.print)
    except KeyboardInterrupt:
        draw_curves(invocation_dir)
        stderr.print(f"interrupted: finished runs and the partial run are in {invocation_dir}"
                     f"; continue with --resume {invocation_dir}", soft_wrap=True)
        sys.exit(130)
    except RuntimeError as err:  # e.g. --device gpu with no GPU, folder in use, no Ray
        raise UsageProblem(str(err)) from err
    sweep = (result.points, result.params, all_columns) if result.is_sweep else None
    sys.exit(print_results(invocation_dir, result.rows, check, junit_path, as_json, sweep))


def execution_for(executor: str, jobs: int | None, address: str | None):
    """--executor/--jobs/--address, checked before anything is created or trained."""
    from mnist_doctor.batch import Execution

    if address and executor != "ray":
        raise UsageProblem("--address needs --executor ray")
    if executor == "ray":
        from mnist_doctor.ray_executor import RayUnavailable, require_ray

        try:
            require_ray()
        except RayUnavailable as err:
            raise UsageProblem(str(err)) from err
    return Execution(executor, jobs, address)


def invocation_dir_for(out: str | None, label: str | None, resume_dir: str | None) -> Path:
    from mnist_doctor.runs import create_invocation_dir

    if resume_dir is None:
        return create_invocation_dir(out, label)
    if out or label:
        raise UsageProblem("--resume RUN_DIR continues RUN_DIR; drop --out/--label")
    return Path(resume_dir)


def print_results(invocation_dir: Path, rows: list[dict], check: bool, junit_path: str | None,
                  as_json: bool, sweep: tuple | None = None) -> int:
    """curves.png, then JUnit, then the table or the JSON; returns the exit code."""
    from mnist_doctor.junit import write_junit
    from mnist_doctor.outcomes import exit_code, json_summary, load_results, with_checks
    from mnist_doctor.table import comparison_table

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
            from mnist_doctor.sweep_table import points_table

            points, params, all_columns = sweep
            stdout.print(points_table(points, params, f"mnist-doctor sweep: {invocation_dir}",
                                      all_columns))
    return exit_code(results, check)


def draw_curves(invocation_dir: Path) -> None:
    from mnist_doctor.outcomes import write_curves

    path, problem = write_curves(invocation_dir)
    if problem and path is None and problem != "no run folders":
        stderr.print(f"[yellow]warning:[/] curves.png not drawn: {problem}")


class ProgressReporter:
    """A rich progress bar per run on stderr: step, loss, accuracy."""

    def __init__(self):
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[accuracy]:.4f}"),
            TimeElapsedColumn(), console=stderr, transient=False)
        self.progress.start()

    def start(self, name: str, total: int):
        task = self.progress.add_task(escape(name), total=total, loss=float("nan"),
                                      accuracy=float("nan"))

        def update(step, total, loss, accuracy):
            self.progress.update(task, completed=step, loss=loss, accuracy=accuracy)

        return update

    def finish(self, row: dict) -> None:
        pass

    def __del__(self):
        self.progress.stop()


@main.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(configs) -> None:
    """Check every CONFIG and report every error; trains nothing."""
    for sweep in load_sweeps(configs):
        runs = f" ({escape(sweep.describe())})" if sweep.is_sweep else ""
        stdout.print(f"[green]ok[/] {escape(sweep.path)}{runs}")


@main.command(name="list")
@click.argument("configs", nargs=-1, type=click.Path(dir_okay=False))
def list_configs(configs) -> None:
    """Name, description and key settings of each CONFIG (default: configs/*.yaml)."""
    paths = configs or tuple(sorted(str(p) for p in Path("configs").glob("*.yaml")))
    if not paths:
        raise UsageProblem("no configs given and none found in configs/")
    table = Table(title="configs", show_lines=True)
    for column in ("Name", "Description", "Model", "Loss", "Optimizer", "Training", "Runs"):
        table.add_column(column, overflow="fold")
    for sweep in load_sweeps(paths):
        config = sweep.runs[0].config  # a sweep shows its first grid point's settings
        table.add_row(escape(sweep.name), config.description, describe_model(config),
                      config.loss, f"{config.optimizer.name} lr={config.optimizer.learning_rate:g}",
                      describe_training(config), sweep.describe())
    stdout.print(table)


def describe_model(config: ExperimentConfig) -> str:
    parts = ["784" if config.data.flatten else "28x28x1"]
    for layer in config.layers:
        size = layer.units or layer.filters
        if layer.trainable:
            parts.append(f"{layer.type.replace('dense', '')}{size}({layer.activation},"
                         f" {layer.kernel_init.name})".lstrip())
        else:
            parts.append(layer.type)
    return " -> ".join(parts)


def describe_training(config: ExperimentConfig) -> str:
    length = (f"{config.train.steps} steps" if config.train.steps
              else f"{config.train.epochs} epochs")
    data = "raw pixels" if not config.data.normalize else "pixels/255"
    return f"batch {config.train.batch_size}, {length}, {data}, train on {config.data.train_on}"


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--runs", "per_run", is_flag=True, help="For a sweep: one row per run instead of "
              "one per grid point.")
@click.option("--all-columns", is_flag=True, help="Sweep table: show every column.")
def show(run_dir, per_run, all_columns) -> None:
    """Re-render the comparison table of an invocation folder from its files."""
    from mnist_doctor.aggregate import is_sweep, read_points
    from mnist_doctor.sweep_table import points_table
    from mnist_doctor.table import comparison_table, read_summary

    try:
        rows = read_summary(Path(run_dir))
    except FileNotFoundError as err:
        raise UsageProblem(str(err)) from err
    try:
        points, params = read_points(Path(run_dir))
    except FileNotFoundError:  # written before sweeps existed
        points, params = [], []
    if per_run or not is_sweep(points, params):
        stdout.print(comparison_table(rows, title=f"mnist-doctor: {run_dir}"))
    else:
        stdout.print(points_table(points, params, f"mnist-doctor sweep: {run_dir}", all_columns))


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def diagnose(run_dir) -> None:
    """Each run's full findings (evidence and fix), recomputed from the files on disk."""
    from mnist_doctor.diagnose import diagnose_run_dir, find_run_dirs, findings_renderable

    run_dirs = find_run_dirs(Path(run_dir))
    if not run_dirs:
        raise UsageProblem(f"{run_dir}: no run folders (folders with run.json) found")
    for path in run_dirs:
        stdout.print(findings_renderable(path.name, diagnose_run_dir(path)))


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def report(run_dir) -> None:
    """Write RUN_DIR/report.html (one self-contained page) and print its path."""
    from mnist_doctor.html_report import write_report
    from mnist_doctor.run_files import find_run_dirs

    folder = Path(run_dir)
    if not find_run_dirs(folder):
        hint = (f"; {folder} is one run, try its invocation folder {folder.parent}"
                if (folder / "run.json").is_file() else "")
        raise UsageProblem(f"{run_dir}: no run folders (folders with run.json) found{hint}")
    click.echo(str(write_report(folder)))
