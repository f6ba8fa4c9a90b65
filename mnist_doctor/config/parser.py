"""Field-by-field checks that turn a raw YAML mapping into config dataclasses.

A `Parser` walks the mapping once, records every problem as (dotted key, message) and still
returns a best-effort config, so one `validate` call reports all mistakes in a file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mnist_doctor.config.errors import did_you_mean
from mnist_doctor.config.expect import parse_expect
from mnist_doctor.config.numbers import as_number
from mnist_doctor.config.schema import (
    ACTIVATIONS,
    DEFAULT_LEARNING_RATES,
    GRADIENT_JITTER_TARGETS,
    LAYER_KEYS,
    NAMED_INITIALIZERS,
    OPTIMIZERS,
    PARAM_INITIALIZERS,
    RECORDED_LOSSES,
    DataConfig,
    ExperimentConfig,
    Initializer,
    Layer,
    OptimizerConfig,
    TrainConfig,
)

TOP_KEYS = {"name", "description", "source", "seed", "data", "model", "loss", "loss_epsilon",
            "loss_reduction", "optimizer", "train", "expect"}
DATA_KEYS = {"normalize", "flatten", "train_on", "train_subset", "path"}
OPTIMIZER_KEYS = {"name", "learning_rate", "momentum", "nesterov", "gradient_jitter",
                  "gradient_jitter_on"}
TRAIN_KEYS = {"batch_size", "steps", "epochs", "eval_every"}
_MISSING = object()


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class Parser:
    """Collects problems while building the config; see module docstring."""

    def __init__(self):
        self.problems: list[tuple[str, str]] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append((key, message))

    # -- generic field readers -------------------------------------------------------------
    def mapping(self, value: Any, key: str, allowed: set[str]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(key or "<top>", f"expected a mapping, got {_type_name(value)}")
            return {}
        for unknown in sorted(set(value) - allowed, key=str):
            where = f"{key}.{unknown}" if key else str(unknown)
            self.problem(where, f"unknown key{did_you_mean(unknown, allowed)}; "
                                f"allowed: {', '.join(sorted(allowed))}")
        return value

    def number(self, section: dict, key: str, prefix: str, default: Any, *, kind=float,
               minimum: float | None = None, exclusive: bool = False, nullable: bool = False):
        value = section.get(key, default)
        dotted = f"{prefix}.{key}" if prefix else key
        if value is None and nullable:
            return None
        if isinstance(value, str) and as_number(value) is not None:
            value = as_number(value)  # YAML 1.1 reads 1e-3 as a string
            value = int(value) if kind is int and float(value).is_integer() else value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                kind is int and not isinstance(value, int)):
            self.problem(dotted, f"expected {'an integer' if kind is int else 'a number'}, "
                                 f"got {value!r}")
            return default
        if minimum is not None and (value < minimum or (exclusive and value == minimum)):
            bound = f"> {minimum}" if exclusive else f">= {minimum}"
            self.problem(dotted, f"must be {bound}, got {value!r}")
            return default
        return kind(value)

    def choice(self, section: dict, key: str, prefix: str, default: str, choices) -> str:
        value = section.get(key, default)
        dotted = f"{prefix}.{key}" if prefix else key
        if value not in choices:
            self.problem(dotted, f"expected one of {', '.join(choices)}, got {value!r}"
                                 f"{did_you_mean(value, choices)}")
            return default
        return value

    def flag(self, section: dict, key: str, prefix: str, default: bool) -> bool:
        value = section.get(key, default)
        if not isinstance(value, bool):
            self.problem(f"{prefix}.{key}", f"expected true or false, got {value!r}")
            return default
        return value

    def text(self, section: dict, key: str, default: str) -> str:
        value = section.get(key, default)
        if value is None:
            return default
        if not isinstance(value, (str, int, float)):
            self.problem(key, f"expected a string, got {_type_name(value)}")
            return default
        return str(value)

    # -- sections --------------------------------------------------------------------------
    def experiment(self, raw: Any, default_name: str, path: str) -> ExperimentConfig:
        top = self.mapping(raw, "", TOP_KEYS)
        if raw is None:
            self.problem("<file>",
                         "the file is empty; expected a mapping with at least model.layers")
        data = self.data(self.mapping(top.get("data"), "data", DATA_KEYS))
        layers = self.layers(top.get("model", _MISSING), data)
        optimizer = self.optimizer(self.mapping(top.get("optimizer"), "optimizer", OPTIMIZER_KEYS))
        train = self.train(self.mapping(top.get("train"), "train", TRAIN_KEYS))
        return ExperimentConfig(
            name=self.text(top, "name", default_name) or default_name,
            description=self.text(top, "description", ""),
            source=self.text(top, "source", ""),
            seed=self.number(top, "seed", "", 0, kind=int, minimum=0),
            data=data,
            layers=layers,
            loss=self.choice(top, "loss", "", "crossentropy", RECORDED_LOSSES),
            loss_epsilon=self.number(top, "loss_epsilon", "", 0.0, minimum=0.0),
            loss_reduction=self.choice(top, "loss_reduction", "", "mean", ("mean", "sum")),
            optimizer=optimizer,
            train=train,
            expect=parse_expect(top.get("expect"), self.problem),
            path=path,
        )

    def data(self, section: dict) -> DataConfig:
        path = section.get("path")
        if path is not None and not isinstance(path, str):
            self.problem("data.path", f"expected a file path string, got {path!r}")
            path = None
        return DataConfig(
            normalize=self.flag(section, "normalize", "data", True),
            flatten=self.flag(section, "flatten", "data", True),
            train_on=self.choice(section, "train_on", "data", "train", ("train", "test")),
            train_subset=self.number(section, "train_subset", "data", None, kind=int,
                                     minimum=1, nullable=True),
            path=path,
        )

    def optimizer(self, section: dict) -> OptimizerConfig:
        name = self.choice(section, "name", "optimizer", "sgd", OPTIMIZERS)
        momentum = self.number(section, "momentum", "optimizer", 0.0, minimum=0.0)
        nesterov = self.flag(section, "nesterov", "optimizer", False)
        if name != "sgd" and (momentum or nesterov):  # the zero defaults are harmless
            self.problem("optimizer.momentum", f"momentum/nesterov apply to sgd only, not {name}")
        return OptimizerConfig(
            name=name,
            learning_rate=self.number(section, "learning_rate", "optimizer",
                                      DEFAULT_LEARNING_RATES[name], minimum=0.0, exclusive=True),
            momentum=momentum,
            nesterov=nesterov,
            gradient_jitter=self.number(section, "gradient_jitter", "optimizer", 0.0,
                                        minimum=0.0),
            gradient_jitter_on=self.choice(section, "gradient_jitter_on", "optimizer", "all",
                                           GRADIENT_JITTER_TARGETS),
        )

    def train(self, section: dict) -> TrainConfig:
        steps = self.number(section, "steps", "train", None, kind=int, minimum=1, nullable=True)
        epochs = self.number(section, "epochs", "train", None, kind=int, minimum=1, nullable=True)
        if (steps is None) == (epochs is None) and not self._has_problem("train."):
            self.problem("train", "give exactly one of train.steps or train.epochs"
                         + (", not both" if steps is not None else ""))
            epochs, steps = (1, None) if steps is None else (None, steps)
        eval_every = section.get("eval_every", "epoch")
        if eval_every != "epoch" and (isinstance(eval_every, bool)
                                      or not isinstance(eval_every, int) or eval_every < 1):
            self.problem("train.eval_every", f"expected 'epoch' or a positive number of steps, "
                                             f"got {eval_every!r}")
            eval_every = "epoch"
        return TrainConfig(
            batch_size=self.number(section, "batch_size", "train", 32, kind=int, minimum=1),
            steps=steps, epochs=epochs, eval_every=eval_every,
        )

    def _has_problem(self, prefix: str) -> bool:
        return any(key.startswith(prefix) for key, _ in self.problems)

    def layers(self, model: Any, data: DataConfig) -> tuple[Layer, ...]:
        if model is _MISSING:
            self.problem("model", "missing; expected model.layers: a list of layers")
            return ()
        model = self.mapping(model, "model", {"layers"})
        raw_layers = model.get("layers")
        if not isinstance(raw_layers, list) or not raw_layers:
            self.problem("model.layers", f"expected a non-empty list of layers, got {raw_layers!r}")
            return ()
        layers = []
        spatial = not data.flatten  # does the tensor flowing here still have height and width?
        for index, raw in enumerate(raw_layers):
            key = f"model.layers[{index}]"
            layer = self.layer(raw, key)
            if layer is None:
                continue
            if layer.type in ("conv2d", "max_pool2d") and not spatial:
                self.problem(f"{key}.type", f"{layer.type} needs 28x28x1 images, but the input "
                             "is flattened here; set data.flatten: false (or add no flatten "
                             "layer before it)")
            if layer.type == "flatten":
                spatial = False
            layers.append(layer)
        if spatial and layers:
            self.problem("model.layers", "the last layer still outputs images; add a "
                         "{type: flatten} layer before the dense layers")
        last = layers[-1] if layers else None
        if last is not None and (last.type != "dense" or last.units != 10):
            self.problem(f"model.layers[{len(layers) - 1}]",
                         "the last layer must be dense with units: 10 (one per digit)")
        return tuple(layers)

    def layer(self, raw: Any, key: str) -> Layer | None:
        if not isinstance(raw, dict) or "type" not in raw:
            self.problem(key, f"expected a mapping with a 'type' key, got {raw!r}")
            return None
        kind = raw["type"]
        if kind not in LAYER_KEYS:
            self.problem(f"{key}.type", f"expected one of {', '.join(LAYER_KEYS)}, got {kind!r}"
                                        f"{did_you_mean(kind, LAYER_KEYS)}")
            return None
        section = self.mapping(raw, key, LAYER_KEYS[kind] | {"type"})
        fields: dict[str, Any] = {"type": kind}
        if kind == "dense":
            fields["units"] = self.number(section, "units", key, None, kind=int, minimum=1)
        if kind == "conv2d":
            fields["filters"] = self.number(section, "filters", key, None, kind=int, minimum=1)
            fields["kernel_size"] = self.number(section, "kernel_size", key, 3, kind=int, minimum=1)
        if kind in ("conv2d", "max_pool2d"):
            fields["strides"] = self.number(section, "strides", key, None, kind=int, minimum=1,
                                            nullable=True)
            fields["padding"] = self.choice(section, "padding", key, "valid", ("valid", "same"))
        if kind == "max_pool2d":
            fields["pool_size"] = self.number(section, "pool_size", key, 2, kind=int, minimum=1)
        if kind == "dropout":
            fields["rate"] = self.number(section, "rate", key, 0.5, minimum=0.0)
            if fields["rate"] >= 1:
                self.problem(f"{key}.rate", f"must be below 1, got {fields['rate']!r}")
        if kind in ("dense", "conv2d"):
            # An omitted or null activation is linear, as in Keras.
            given = {"activation": section.get("activation") or "linear"}
            fields["activation"] = self.choice(given, "activation", key, "linear", ACTIVATIONS)
            fields["kernel_init"] = self.initializer(section.get("kernel_init", "glorot_uniform"),
                                                     f"{key}.kernel_init")
            fields["bias_init"] = self.initializer(section.get("bias_init", "zeros"),
                                                   f"{key}.bias_init")
        if fields.get("units", 0) is None or fields.get("filters", 0) is None:
            return None
        return Layer(**fields)

    def initializer(self, raw: Any, key: str) -> Initializer:
        allowed = NAMED_INITIALIZERS + PARAM_INITIALIZERS
        if isinstance(raw, str) and raw in NAMED_INITIALIZERS:
            return Initializer(raw)
        names = [k for k in raw if k != "jitter"] if isinstance(raw, dict) else []
        if not (len(names) == 1 and names[0] in PARAM_INITIALIZERS):
            self.problem(key, f"expected one of {', '.join(NAMED_INITIALIZERS)}, or a mapping "
                              f"{{constant: V}}, {{normal: {{stddev: S}}}}, "
                              f"{{truncated_normal: {{stddev: S}}}}, "
                              f"{{uniform: {{low: A, high: B}}}}, optionally with jitter: J "
                              f"(e.g. {{constant: 0.0, jitter: 1.0e-7}}); got {raw!r}"
                              f"{did_you_mean(raw, allowed) if isinstance(raw, str) else ''}")
            return Initializer("zeros")
        name = names[0]
        jitter = self.number(raw, "jitter", key, 0.0, minimum=0.0)
        return replace(self._parametrised(name, raw, key), jitter=jitter)

    def _parametrised(self, name: str, raw: dict, key: str) -> Initializer:
        params = raw[name]
        if name == "constant":
            return Initializer("constant", value=self.number(raw, "constant", key, 0.0))
        if name == "uniform":
            params = self.mapping(params, f"{key}.uniform", {"low", "high"})
            low = self.number(params, "low", f"{key}.uniform", -0.05)
            high = self.number(params, "high", f"{key}.uniform", 0.05)
            if high <= low:
                self.problem(f"{key}.uniform", f"high must exceed low, got low={low}, high={high}")
            return Initializer("uniform", low=low, high=high)
        params = self.mapping(params, f"{key}.{name}", {"mean", "stddev"})
        return Initializer(name, mean=self.number(params, "mean", f"{key}.{name}", 0.0),
                           stddev=self.number(params, "stddev", f"{key}.{name}", 0.05,
                                              minimum=0.0, exclusive=True))
