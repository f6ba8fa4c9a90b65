"""The `mnist-doctor` command: parse options, call one library function, print its result.

Results go to stdout, progress and errors to stderr. TensorFlow is imported only once a run
starts, so `--help`, `validate`, `list`, `show` and `diagnose` answer instantly.
Exit codes: 0 every run completed or diverged (a recorded result); 1 a run failed with an
error; 2 bad usage, config or data (nothing trained); 130 interrupted.
"""

from __future__ import annotations

import click

from mnist_doctor.cli import inspect, run, treat


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mnist-doctor")
def main() -> None:
    """Reproduce, measure and diagnose the classic ways an MNIST network fails to learn."""


main.add_command(run.run)
main.add_command(treat.treat)
for command in (inspect.validate, inspect.list_configs, inspect.show, inspect.diagnose,
                inspect.report):
    main.add_command(command)
