"""The config language's vocabulary and its typed form: frozen dataclasses, one per section.

Everything downstream of the loader receives an `ExperimentConfig`, never a raw dict. This
module also owns the names a config's layers get everywhere else (Keras layer names, telemetry
rows, findings): `layer_label`. No TensorFlow here: `validate` and `list` must start instantly.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from mnist_doctor.config.expect import Expect

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "elu", "leaky_relu", "gelu")
LOSSES = ("naive_log", "crossentropy", "logits_crossentropy", "mse")
# `custom`: a loss function from a user's Keras script (mnist_doctor.Doctor) that is none of
# the above; a config records it so the doctor can read the run, but cannot train it.
RECORDED_LOSSES = (*LOSSES, "custom")
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")
GRADIENT_JITTER_TARGETS = ("all", "kernel", "bias")
NAMED_INITIALIZERS = (
    "zeros", "ones", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
)
PARAM_INITIALIZERS = ("constant", "normal", "truncated_normal", "uniform")
# Keras's own defaults, so a config that omits them behaves like a plain Keras script.
DEFAULT_LEARNING_RATES = {"sgd": 0.01, "adam": 0.001, "rmsprop": 0.001, "adagrad": 0.001}
LAYER_KEYS = {
    "dense": {"units", "activation", "kernel_init", "bias_init"},
    "conv2d": {"filters", "kernel_size", "strides", "padding", "activation", "kernel_init",
               "bias_init"},
    "max_pool2d": {"pool_size", "strides", "padding"},
    "flatten": set(),
    "dropout": {"rate"},
}


@dataclass(frozen=True)
class Initializer:
    """A kernel or bias initialiser: a Keras name, or a parametrised distribution."""

    name: str
    value: float | None = None      # constant
    mean: float = 0.0               # normal, truncated_normal
    stddev: float | None = None     # normal, truncated_normal
    low: float | None = None        # uniform
    high: float | None = None       # uniform
    # Half-width of i.i.d. uniform noise added to every starting weight, e.g. 1e-7, the size
    # of float32 rounding near 1: perturbs otherwise identical units by a rounding error.
    jitter: float = 0.0

    def to_yaml(self) -> Any:
        jitter = {"jitter": self.jitter} if self.jitter else {}
        if self.name in NAMED_INITIALIZERS:
            return self.name
        if self.name == "constant":
            return {"constant": self.value, **jitter}
        if self.name == "uniform":
            return {"uniform": {"low": self.low, "high": self.high}, **jitter}
        return {self.name: {"mean": self.mean, "stddev": self.stddev}, **jitter}

    @property
    def is_constant(self) -> bool:
        """True when every weight starts equal, or equal up to a jitter, which leaves the units
        copies of each other but for the jitter."""
        return self.name in ("zeros", "ones", "constant")


@dataclass(frozen=True)
class Layer:
    """One layer of the model. Fields that do not apply to `type` keep their defaults."""

    type: str
    units: int | None = None
    filters: int | None = None
    kernel_size: int = 3
    strides: int | None = None
    padding: str = "valid"
    pool_size: int = 2
    rate: float = 0.5
    activation: str = "linear"
    kernel_init: Initializer = Initializer("glorot_uniform")
    bias_init: Initializer = Initializer("zeros")

    @property
    def trainable(self) -> bool:
        return self.type in ("dense", "conv2d")

    def to_yaml(self) -> dict:
        keys = LAYER_KEYS[self.type]
        out: dict[str, Any] = {"type": self.type}
        for key in ("units", "filters", "kernel_size", "strides", "padding", "pool_size", "rate",
                    "activation"):
            if key in keys:
                out[key] = getattr(self, key)
        if self.trainable:
            out["kernel_init"] = self.kernel_init.to_yaml()
            out["bias_init"] = self.bias_init.to_yaml()
        return out


@dataclass(frozen=True)
class DataConfig:
    normalize: bool = True
    flatten: bool = True
    train_on: str = "train"
    train_subset: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    # Relative size J of a fresh perturbation of every gradient element at every update,
    # g * (1 + J*u) with u uniform in [-1, 1]: what a GPU does when it sums a gradient in a
    # different order each step (J of about 6e-8, float32's unit roundoff). 0: none.
    gradient_jitter: float = 0.0
    # Which gradients: `all`, `kernel` or `bias`. On a 2016 GPU, bias gradients were summed with
    # atomic adds (order varies) while cuBLAS matrix products summed in a fixed order.
    gradient_jitter_on: str = "all"


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    steps: int | None = None
    epochs: int | None = None
    eval_every: str | int = "epoch"


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    layers: tuple[Layer, ...]
    description: str = ""
    source: str = ""
    seed: int = 0
    data: DataConfig = DataConfig()
    loss: str = "crossentropy"
    loss_epsilon: float = 0.0
    loss_reduction: str = "mean"
    optimizer: OptimizerConfig = OptimizerConfig()
    train: TrainConfig = TrainConfig(epochs=1)
    expect: Expect | None = None
    path: str = field(default="", compare=False)

    def to_yaml_dict(self) -> dict:
        """The resolved config, defaults filled in, in the same shape a user writes."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "seed": self.seed,
            "data": asdict(self.data),
            "model": {"layers": [layer.to_yaml() for layer in self.layers]},
            "loss": self.loss,
            "loss_epsilon": self.loss_epsilon,
            "loss_reduction": self.loss_reduction,
            "optimizer": self._optimizer_yaml(),
            "train": {k: v for k, v in asdict(self.train).items() if v is not None},
            **({"expect": self.expect.to_yaml()} if self.expect is not None else {}),
        }

    def _optimizer_yaml(self) -> dict:
        resolved = asdict(self.optimizer)
        if self.optimizer.name != "sgd":  # momentum and nesterov are SGD's options only
            del resolved["momentum"], resolved["nesterov"]
        if not self.optimizer.gradient_jitter:  # off: keep resolved configs (and hashes) as before
            del resolved["gradient_jitter"], resolved["gradient_jitter_on"]
        return resolved

    def config_hash(self) -> str:
        """A stable digest of everything that affects training (not name or description)."""
        resolved = self.to_yaml_dict()
        for key in ("name", "description", "source"):
            resolved.pop(key)
        resolved.pop("expect", None)  # what a run must show does not change how it trains
        return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:16]


def layer_label(index: int, layer: Layer) -> str:
    """`L<i>_<type>`: the name layer i of `model.layers` has in Keras, telemetry and findings."""
    return f"L{index}_{layer.type}"


def activation_label(index: int, layer: Layer) -> str:
    """The name of layer i's separate activation layer (`L<i>_<activation>`); a linear layer
    has none, and its label is then the layer's own."""
    return layer_label(index, layer) if layer.activation == "linear" \
        else f"L{index}_{layer.activation}"


def safe_name(name: str) -> str:
    """Turn a run name into a single, portable path component (no '/', '..', spaces, no
    leading dot). Letters and digits of any script stay: `résumé-数字` is its own folder name."""
    cleaned = re.sub(r"[^\w.=,\[\]+-]+", "-", unicodedata.normalize("NFC", name)).strip(".-")
    return cleaned[:120] or "run"
