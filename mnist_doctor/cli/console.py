"""The CLI's terminal: stdout for results, stderr for progress and errors, and how a usage
problem (bad config, data or option: nothing trained) is shown."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnist_doctor.config.errors import ConfigError
from mnist_doctor.config.sweep import Sweep, load_sweep

PIPED_WIDTH = 120  # only when no width is known at all (no terminal, no $COLUMNS)


def output_width(stream) -> int | None:
    """None for a terminal (rich measures it); piped, $COLUMNS, else the width of the terminal
    the command runs in (`| head` on an 80-column terminal), else PIPED_WIDTH."""
    if stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    for fd in (2, 1, 0):
        try:
            return os.get_terminal_size(fd).columns
        except OSError:
            continue
    return PIPED_WIDTH


stdout = Console(width=output_width(sys.stdout))
stderr = Console(stderr=True, width=output_width(sys.stderr))


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
            continue
        if any(run.config.loss == "custom" for run in sweeps[-1].runs):
            problems.append(f"{path}: loss: custom records a user's own loss function (written "
                            "by mnist_doctor.Doctor) and cannot be trained from a config; use "
                            "naive_log, crossentropy, logits_crossentropy or mse")
    if problems:
        raise UsageProblem("invalid config\n" + "\n".join(problems))
    return sweeps


def refuse_oversized(sweeps: list[Sweep], available: int | None = None) -> None:
    """Before anything trains: a config whose model cannot fit in memory is a usage problem
    naming the file, the biggest layer's key and the size, not an out-of-memory crash later."""
    available = available if available is not None else available_memory()
    problems = []
    for sweep in sweeps:
        for run in sweep.runs:
            problem = _oversized(run.config, available)
            if problem and problem not in problems:
                problems.append(problem)
    if problems:
        raise UsageProblem("model too big\n" + "\n".join(problems))


def _oversized(config, available: int) -> str | None:
    from mnist_doctor.config.shapes import parameter_counts, training_bytes

    needed = training_bytes(config)
    if needed <= available:
        return None
    counts = parameter_counts(config)
    index = max(counts, key=counts.get)
    key = "units" if config.layers[index].units else "filters"
    return (f"{config.path}: model.layers[{index}].{key}: the model has "
            f"{sum(counts.values()):,} parameters ({counts[index]:,} in this layer); training "
            f"needs at least {_size(needed)}, more than the {_size(available)} of memory "
            "available here")


def available_memory() -> int:
    """Bytes of memory available now (Linux MemAvailable), else physical memory."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return ""


class ProgressReporter:
    """A rich progress bar per run on stderr: step, loss, accuracy.

    A context manager: the live display is stopped (and its last frame left in place) when the
    block ends, so nothing printed afterwards, such as the results table, gets drawn over."""

    def __init__(self):
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[accuracy]:.4f}"),
            TimeElapsedColumn(), console=stderr, transient=False)
        self.progress.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.progress.stop()

    def start(self, name: str, total: int):
        task = self.progress.add_task(escape(name), total=total, loss=float("nan"),
                                      accuracy=float("nan"))

        def update(step, total, loss, accuracy):
            self.progress.update(task, completed=step, loss=loss, accuracy=accuracy)

        return update

    def finish(self, row: dict) -> None:
        pass


def live_progress(quiet: bool):
    """The progress display for `run` (a no-op context when --quiet)."""
    return contextlib.nullcontext() if quiet else ProgressReporter()


