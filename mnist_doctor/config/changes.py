"""A config changed at dotted keys: the language in which the doctor's fixes are written.

The same dotted keys as `matrix:` (`optimizer.learning_rate`, `model.layers[0].kernel_init`),
applied to a resolved config and validated again by the one parser, so a fix can never produce a
config that `mnist-doctor run` would refuse.
"""

from __future__ import annotations

from typing import Any

from mnist_doctor.config.errors import ConfigError
from mnist_doctor.config.loader import parse_config
from mnist_doctor.config.schema import ExperimentConfig
from mnist_doctor.config.sweep import assign, parse_dotted


def apply_changes(config: ExperimentConfig, changes: dict[str, Any], name: str | None = None,
                  keep_expect: bool = False) -> ExperimentConfig:
    """`config` with each dotted key set to its value; ConfigError names a bad key or value.

    The result drops the `expect:` block unless asked (what the broken run had to show is not
    what its treated copy shows) and takes `name` if given.
    """
    raw = config.to_yaml_dict()
    if not keep_expect:
        raw.pop("expect", None)
    if name is not None:
        raw["name"] = name
    problems = []
    for key, value in changes.items():
        tokens = parse_dotted(key)
        reason = "not a dotted key" if tokens is None else assign(raw, tokens, value)
        if reason:
            problems.append((key, reason))
    if problems:
        raise ConfigError(config.path or "<config>", problems)
    return parse_config(raw, config.path or "<config>")


def describe_changes(changes: dict[str, Any]) -> str:
    """`model.layers[0].kernel_init: he_normal, optimizer.learning_rate: 0.05` (YAML-ish)."""
    return ", ".join(f"{key}: {_short(value)}" for key, value in changes.items())


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).lower() if isinstance(value, bool) else str(value)
