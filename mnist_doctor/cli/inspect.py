"""The commands that read: validate and list configs; show, diagnose and report run folders.

None of them imports TensorFlow, so they answer instantly and work on old runs.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from mnist_doctor.cli.console import UsageProblem, load_sweeps, refuse_oversized, stdout
from mnist_doctor.config.schema import ExperimentConfig
from mnist_doctor.report.fit import NAME, WRAP, Cell, Column, FittedTable


@click.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(configs) -> None:
    """Check every CONFIG and report every error; trains nothing."""
    sweeps = load_sweeps(configs)
    refuse_oversized(sweeps)
    for sweep in sweeps:
        runs = f" ({escape(sweep.describe())})" if sweep.is_sweep else ""
        stdout.print(f"[green]ok[/] {escape(sweep.path)}{runs}", soft_wrap=True)


@click.command(name="list")
@click.argument("configs", nargs=-1, type=click.Path(dir_okay=False))
def list_configs(configs) -> None:
    """Name, description and key settings of each CONFIG (default: configs/*.yaml)."""
    paths = configs or tuple(sorted(str(p) for p in Path("configs").glob("*.yaml")))
    if not paths:
        raise UsageProblem("no configs given and none found in configs/")
    rows = []
    for sweep in load_sweeps(paths):
        configs = [run.config for run in sweep.runs]
        rows.append([Cell(sweep.name), Cell(configs[0].description),
                     Cell(_each(configs, describe_model)), Cell(_each(configs, lambda c: c.loss)),
                     Cell(_each(configs, lambda c: c.optimizer.name) + " lr=" +
                          _each(configs, lambda c: f"{c.optimizer.learning_rate:g}", "|")),
                     Cell(_each(configs, describe_training)), Cell(sweep.describe())])
    stdout.print(FittedTable(LIST_COLUMNS, rows, title="configs"))


# Narrow terminals lose Training first, then Description (drop order).
LIST_COLUMNS = [Column("Name", kind=NAME), Column("Description", kind=WRAP, drop=2),
                Column("Model", kind=WRAP), Column("Loss", kind=WRAP),
                Column("Optimizer", kind=WRAP), Column("Training", kind=WRAP, drop=1),
                Column("Runs", kind=WRAP)]


def _each(configs: list[ExperimentConfig], describe, separator: str = " | ") -> str:
    """One description, or a sweep's distinct values joined (lr=0.1|0.01), not only the first
    grid point's."""
    return separator.join(dict.fromkeys(describe(config) for config in configs))


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


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--runs", "per_run", is_flag=True, help="For a sweep: one row per run instead of "
              "one per grid point.")
@click.option("--all-columns", is_flag=True, help="Sweep table: show every column.")
def show(run_dir, per_run, all_columns) -> None:
    """Re-render the comparison table of an invocation folder from its files."""
    from mnist_doctor.report.results import failure_lines, load_results
    from mnist_doctor.report.sweep_table import points_table
    from mnist_doctor.report.table import comparison_table
    from mnist_doctor.runs.points import is_sweep, read_points
    from mnist_doctor.runs.summary import read_summary

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
    for line in failure_lines(load_results(Path(run_dir), rows)):
        stdout.print(line, soft_wrap=True, highlight=False)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def diagnose(run_dir) -> None:
    """Each run's full findings (evidence and fix), recomputed from the files on disk, and
    its treatment trials when it was treated."""
    from mnist_doctor.doctor.diagnose import full_diagnosis
    from mnist_doctor.report.findings_view import findings_renderable
    from mnist_doctor.report.treatment_table import treatment_table
    from mnist_doctor.runs.layout import find_run_dirs
    from mnist_doctor.runs.read import read_run_json
    from mnist_doctor.vocabulary import ERROR_STATUSES

    run_dirs = find_run_dirs(Path(run_dir))
    if not run_dirs:
        raise UsageProblem(f"{run_dir}: no run folders (folders with run.json) found")
    for path in run_dirs:
        info = read_run_json(path) or {}
        if info.get("status") in ERROR_STATUSES:  # say so: no findings is not "no problems"
            stdout.print(f"[bold red]{escape(path.name)}: {escape(info['status'])}:[/] "
                         f"{escape(info.get('error') or 'no error recorded')}", soft_wrap=True)
        found = full_diagnosis(path)
        stdout.print(findings_renderable(path.name, found.findings,
                                         failed=info.get("status") in ERROR_STATUSES))
        if found.verdicts is not None:
            stdout.print(treatment_table(path.name, found.to_dict()))


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def report(run_dir) -> None:
    """Write RUN_DIR/report.html (one self-contained page) and print its path."""
    from mnist_doctor.report.html import write_report
    from mnist_doctor.runs.layout import find_run_dirs

    folder = Path(run_dir)
    if not find_run_dirs(folder):
        raise UsageProblem(f"{run_dir}: no run folders (folders with run.json) found")
    click.echo(str(write_report(folder)))
