"""The config language: YAML files in, frozen, validated `ExperimentConfig`s out.

Owns the schema (schema.py), the field-by-field checks (parser.py), the one file reader
(loader.py), `expect:` blocks (expect.py) and `matrix:`/`repeats:` sweeps (sweep.py). Imports
nothing of ours but `vocabulary`; everything else in mnist-doctor reads configs through here.
"""

from mnist_doctor.config.errors import ConfigError
from mnist_doctor.config.loader import load_config, parse_config, read_yaml
from mnist_doctor.config.schema import (
    DataConfig,
    ExperimentConfig,
    Initializer,
    Layer,
    OptimizerConfig,
    TrainConfig,
    activation_label,
    layer_label,
    safe_name,
)
from mnist_doctor.config.sweep import Sweep, SweepRun, load_sweep

__all__ = [
    "ConfigError", "DataConfig", "ExperimentConfig", "Initializer", "Layer", "OptimizerConfig",
    "Sweep", "SweepRun", "TrainConfig", "activation_label", "layer_label", "load_config",
    "load_sweep", "parse_config", "read_yaml", "safe_name",
]
