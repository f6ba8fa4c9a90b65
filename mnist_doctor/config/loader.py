"""YAML in, `ExperimentConfig` out: the one reader of config files.

Files are read with `yaml.safe_load` only. Every problem in a file is collected and reported at
once, each naming the file, the dotted key, the bad value and what is allowed, so a user fixes a
config in one pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mnist_doctor.config.errors import ConfigError
from mnist_doctor.config.parser import Parser
from mnist_doctor.config.schema import ExperimentConfig


def read_yaml(path: str | Path) -> Any:
    """The raw mapping of one YAML file, read with safe_load only, or a ConfigError."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(path, [("<file>", f"cannot read: {err.strerror or err}")]) from err
    except yaml.YAMLError as err:
        raise ConfigError(path, [("<file>", f"not valid YAML: {err}")]) from err


def load_config(path: str | Path) -> ExperimentConfig:
    """Read one YAML file into an ExperimentConfig or raise ConfigError."""
    return parse_config(read_yaml(path), path)


def parse_config(raw: Any, path: str | Path = "<config>") -> ExperimentConfig:
    """Validate a mapping as read from YAML; collect every problem before raising."""
    parser = Parser()
    config = parser.experiment(raw, default_name=Path(path).stem, path=str(path))
    if parser.problems:
        raise ConfigError(path, parser.problems)
    return config
