"""The `mnist-doctor` command: parse options, call one library function, print its result.

Results go to stdout, progress and errors to stderr. TensorFlow is imported only once a run
starts, so `--help`, `validate`, `list`, `show` and `diagnose` answer instantly.
Exit codes: 0 every run completed or diverged (a recorded result); 1 a run failed with an
error; 2 bad usage, config or data (nothing trained); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mnist_doctor.config import ConfigError, ExperimentConfig, load_config

stdout = Console()
stderr = Console(stderr=True)


class UsageProblem(click.ClickException):
    """Bad config, data or usage: nothing was trained; exit 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        stderr.print(f"[bold red]error:[/] {self.message}", markup=True, highlight=False)


def load_all(paths: tuple[str, ...]) -> list[ExperimentConfig]:
    """Every config, or one UsageProblem listing every problem in every file."""
    configs, problems = [], []
    for path in paths:
        try:
            configs.append(load_config(path))
        except ConfigError as err:
            problems += [f"{err.path}: {key}: {message}" for key, message in err.problems]
    if problems:
        raise UsageProblem("invalid config\n" + "\n".join(problems))
    return configs


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
@click.option("--no-doctor", is_flag=True, help="Turn telemetry off (static and metric-based "
              "diagnosis still run).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def run(configs, out, label, data_path, device, no_doctor, quiet) -> None:
    """Train each CONFIG, write run folders and print the comparison table."""
    from mnist_doctor.data import DataError, DataSource
    from mnist_doctor.runner import RunOptions, run_experiments
    from mnist_doctor.runs import create_invocation_dir
    from mnist_doctor.table import comparison_table

    experiments = load_all(configs)
    source = DataSource(data_path)
    try:
        for experiment in experiments:
            source.load(experiment.data)
    except DataError as err:
        raise UsageProblem(str(err)) from err
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    invocation_dir = create_invocation_dir(out, label)
    reporter = None if quiet else ProgressReporter()
    options = RunOptions(doctor=not no_doctor, device=device)
    try:
        rows = run_experiments(experiments, invocation_dir, source, options, reporter)
    except KeyboardInterrupt:
        stderr.print(f"interrupted: finished runs and the partial run are in {invocation_dir}")
        sys.exit(130)
    except RuntimeError as err:  # e.g. --device gpu with no GPU
        raise UsageProblem(str(err)) from err
    stdout.print(comparison_table(rows, title=f"mnist-doctor: {invocation_dir}"))
    if any(row["status"] == "failed" for row in rows):
        sys.exit(1)


class ProgressReporter:
    """A rich progress bar per run on stderr: step, loss, accuracy."""

    def __init__(self):
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[accuracy]:.4f}"),
            TimeElapsedColumn(), console=stderr, transient=False)
        self.progress.start()

    def start(self, name: str, total: int):
        task = self.progress.add_task(name, total=total, loss=float("nan"),
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
    load_all(configs)
    for path in configs:
        stdout.print(f"[green]ok[/] {path}")


@main.command(name="list")
@click.argument("configs", nargs=-1, type=click.Path(dir_okay=False))
def list_configs(configs) -> None:
    """Name, description and key settings of each CONFIG (default: configs/*.yaml)."""
    paths = configs or tuple(sorted(str(p) for p in Path("configs").glob("*.yaml")))
    if not paths:
        raise UsageProblem("no configs given and none found in configs/")
    table = Table(title="configs", show_lines=True)
    for column in ("Name", "Description", "Model", "Loss", "Optimizer", "Training"):
        table.add_column(column, overflow="fold")
    for config in load_all(paths):
        table.add_row(config.name, config.description, describe_model(config), config.loss,
                      f"{config.optimizer.name} lr={config.optimizer.learning_rate:g}",
                      describe_training(config))
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
def show(run_dir) -> None:
    """Re-render the comparison table of an invocation folder from its files."""
    from mnist_doctor.table import comparison_table, read_summary

    try:
        rows = read_summary(Path(run_dir))
    except FileNotFoundError as err:
        raise UsageProblem(str(err)) from err
    stdout.print(comparison_table(rows, title=f"mnist-doctor: {run_dir}"))


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
