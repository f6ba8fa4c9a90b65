"""Every command and option the CLI offers is documented in the README (click's practice)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from mnist_doctor.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def options(command: click.Command) -> list[str]:
    return [flag for param in command.params if isinstance(param, click.Option)
            for flag in param.opts if flag.startswith("--") and flag != "--help"]


@pytest.mark.parametrize("name", sorted(main.commands))
def test_command_is_documented(name):
    assert f"mnist-doctor {name}" in README


@pytest.mark.parametrize(("name", "flag"), [(name, flag) for name, command in
                                            sorted(main.commands.items())
                                            for flag in options(command)])
def test_option_is_documented(name, flag):
    assert f"`{flag}" in README, f"{name} {flag} is not in README.md"
