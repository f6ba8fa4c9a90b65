"""The CLI's terminal: stdout for results, stderr for progress and errors, and how a usage
problem (bad config, data or option: nothing trained) is shown."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnist_doctor.config.errors import ConfigError
from mnist_doctor.config.sweep import Sweep, load_sweep

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


