"""A user's Keras model, compiled loss and fit data, described in the config language.

Duck-typed over public Keras attributes (class names, `activation`, `get_config`), no import of
Keras here. Each config layer remembers which Keras layers it came from (`LayerMap`), so the
callback can name telemetry the way `mnist-doctor run` does (`L<i>_dense`, `L<i>_relu`).
What the language cannot express is listed in `Description.not_expressed`, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mnist_doctor.config.schema import (
    ACTIVATIONS,
    NAMED_INITIALIZERS,
    OPTIMIZERS,
    DataConfig,
    ExperimentConfig,
    Initializer,
    Layer,
    OptimizerConfig,
    TrainConfig,
)

# Raw pixels 0..255 against inputs scaled to 0..1: anything above this was not normalised.
NORMALIZED_MAX = 1.5
INITIALIZER_NAMES = {"Zeros": "zeros", "Ones": "ones", "GlorotUniform": "glorot_uniform",
                     "GlorotNormal": "glorot_normal", "HeNormal": "he_normal",
                     "HeUniform": "he_uniform", "LecunNormal": "lecun_normal"}
LOSS_NAMES = {"categorical_crossentropy": "crossentropy", "mse": "mse",
              "sparse_categorical_crossentropy": "crossentropy",
              "mean_squared_error": "mse", "CategoricalCrossentropy": "crossentropy",
              "SparseCategoricalCrossentropy": "crossentropy", "MeanSquaredError": "mse"}


@dataclass
class LayerMap:
    """Config layer i: the Keras layer holding its weights (`core`) and the one whose output is
    its activation (the core itself, a following Activation layer, or None when linear)."""

    core: object
    activation_layer: object | None = None


@dataclass
class Description:
    config: ExperimentConfig
    layers: list[LayerMap]
    not_expressed: list[str] = field(default_factory=list)


def describe(model, *, name: str, x, y, batch_size: int, epochs: int) -> Description:
    notes: list[str] = []
    layers, maps = _layers(model, notes)
    loss, reduction = describe_loss(getattr(model, "loss", None), y, notes)
    x_max = float(np.max(x)) if len(x) else 0.0
    data = DataConfig(normalize=x_max <= NORMALIZED_MAX, flatten=np.ndim(x) == 2)
    if tuple(np.shape(x)[1:]) not in ((784,), (28, 28, 1)):
        notes.append(f"input shape {tuple(np.shape(x)[1:])}: the config language describes "
                     "28x28x1 images or 784 pixels; fan-ins are computed as if it were MNIST")
    config = ExperimentConfig(
        name=name, layers=tuple(layers), data=data, loss=loss, loss_reduction=reduction,
        description=f"Recorded by mnist_doctor.Doctor from a Keras script (model "
                    f"{getattr(model, 'name', '')!r}).", source="keras callback",
        optimizer=_optimizer(getattr(model, "optimizer", None), notes),
        train=TrainConfig(batch_size=batch_size, epochs=epochs))
    notes.append("seed: not known to the callback (recorded as 0)")
    return Description(config, maps, notes)


def _layers(model, notes: list[str]) -> tuple[list[Layer], list[LayerMap]]:
    layers: list[Layer] = []
    maps: list[LayerMap] = []
    for position, keras_layer in enumerate(model.layers):
        kind = type(keras_layer).__name__
        if kind == "InputLayer":
            continue
        if kind == "Activation" and layers and layers[-1].trainable \
                and layers[-1].activation == "linear" and maps[-1].activation_layer is None:
            activation = _activation(keras_layer, notes, position)
            layers[-1] = _with(layers[-1], activation=activation)
            maps[-1].activation_layer = keras_layer
            continue
        layer = _layer(keras_layer, kind, notes, position)
        if layer is None:
            notes.append(f"layer {position} ({kind} {keras_layer.name!r}) has no counterpart in "
                         "the config language; it is left out of config.yaml")
            continue
        layers.append(layer)
        linear = layer.activation == "linear"
        maps.append(LayerMap(keras_layer, None if linear or not layer.trainable else keras_layer))
    return layers, maps


def _layer(keras_layer, kind: str, notes: list[str], position: int) -> Layer | None:
    config = keras_layer.get_config()
    if kind in ("Dense", "Conv2D"):
        fields = {"type": "dense", "units": config["units"]} if kind == "Dense" else {
            "type": "conv2d", "filters": config["filters"],
            "kernel_size": _square(config["kernel_size"], notes, position, "kernel_size"),
            "strides": _square(config["strides"], notes, position, "strides"),
            "padding": config["padding"]}
        return Layer(**fields, activation=_activation(keras_layer, notes, position),
                     kernel_init=_initializer(keras_layer.kernel_initializer, notes, position),
                     bias_init=_initializer(keras_layer.bias_initializer, notes, position))
    if kind == "MaxPooling2D":
        return Layer("max_pool2d", pool_size=_square(config["pool_size"], notes, position,
                                                     "pool_size"),
                     strides=_square(config["strides"], notes, position, "strides"),
                     padding=config["padding"])
    if kind == "Flatten":
        return Layer("flatten")
    if kind == "Dropout":
        return Layer("dropout", rate=float(config["rate"]))
    return None


def _with(layer: Layer, **changes) -> Layer:
    from dataclasses import replace

    return replace(layer, **changes)


def _square(value, notes: list[str], position: int, key: str) -> int:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if len(set(values)) > 1:
        notes.append(f"layer {position}: {key} {values} is not square; recorded as {values[0]}")
    return int(values[0])


def _activation(keras_layer, notes: list[str], position: int) -> str:
    name = getattr(getattr(keras_layer, "activation", None), "__name__", "linear")
    if name in ACTIVATIONS:
        return name
    notes.append(f"layer {position}: activation {name!r} is not in the config language; "
                 "recorded as linear")
    return "linear"


def _initializer(initializer, notes: list[str], position: int) -> Initializer:
    kind = type(initializer).__name__
    params = initializer.get_config() if hasattr(initializer, "get_config") else {}
    if kind in INITIALIZER_NAMES and INITIALIZER_NAMES[kind] in NAMED_INITIALIZERS:
        return Initializer(INITIALIZER_NAMES[kind])
    if kind == "Constant":
        return Initializer("constant", value=float(params.get("value", 0.0)))
    if kind in ("RandomNormal", "TruncatedNormal"):
        return Initializer("normal" if kind == "RandomNormal" else "truncated_normal",
                           mean=float(params["mean"]), stddev=float(params["stddev"]))
    if kind == "RandomUniform":
        return Initializer("uniform", low=float(params["minval"]), high=float(params["maxval"]))
    notes.append(f"layer {position}: initializer {kind} is not in the config language; "
                 "recorded as glorot_uniform")
    return Initializer("glorot_uniform")


def _optimizer(optimizer, notes: list[str]) -> OptimizerConfig:
    if optimizer is None:
        return OptimizerConfig()
    name = type(optimizer).__name__.lower()
    config = optimizer.get_config()
    rate = config.get("learning_rate")
    if not isinstance(rate, (int, float)):
        notes.append(f"learning rate schedule {rate!r}: recorded as its starting value")
        rate = float(np.asarray(optimizer.learning_rate))
    if name not in OPTIMIZERS:
        notes.append(f"optimizer {type(optimizer).__name__} is not in the config language; "
                     "recorded as sgd with its learning rate")
        return OptimizerConfig("sgd", float(rate))
    if name == "sgd":
        return OptimizerConfig("sgd", float(rate), float(config.get("momentum", 0.0)),
                               bool(config.get("nesterov", False)))
    return OptimizerConfig(name, float(rate))


def describe_loss(loss, y, notes: list[str]) -> tuple[str, str]:
    """(config loss, reduction) for a Keras loss name or object; a plain function is
    recognised by what it computes on test probabilities, else recorded as `custom`."""
    if isinstance(loss, str) or type(loss).__name__ in LOSS_NAMES:
        key = loss if isinstance(loss, str) else type(loss).__name__
        config = {} if isinstance(loss, str) else loss.get_config()
        if key not in LOSS_NAMES:
            notes.append(f"loss {key!r} is not in the config language; recorded as custom")
            return "custom", "mean"
        name = LOSS_NAMES[key]
        if name == "crossentropy" and config.get("from_logits"):
            name = "logits_crossentropy"
        reduction = config.get("reduction", "sum_over_batch_size")
        if reduction not in ("sum", "sum_over_batch_size", "mean"):
            notes.append(f"loss reduction {reduction!r} recorded as mean")
        return name, "sum" if reduction == "sum" else "mean"
    if callable(loss):
        return recognise_function(loss, y, notes)
    notes.append(f"loss {loss!r} not recognised; recorded as custom")
    return "custom", "mean"


def recognise_function(fn, y, notes: list[str]) -> tuple[str, str]:
    """Call the user's loss on a few made-up probabilities (labels in the user's format) and
    compare with the losses the language knows, per example or summed over the batch."""
    classes = 10 if np.ndim(y) == 1 else int(np.shape(y)[-1])
    rng = np.random.default_rng(0)
    labels = np.arange(4) % classes
    truth = np.eye(classes, dtype="float32")[labels]
    given = labels.astype(np.asarray(y).dtype) if np.ndim(y) == 1 else truth
    logits = rng.normal(size=(4, classes)).astype("float32")
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    candidates = {"naive_log": -np.sum(truth * np.log(probs), -1),
                  "mse": np.mean((truth - probs) ** 2, -1)}
    try:
        out = np.asarray(fn(given, probs), dtype="float64")
        logit_out = np.asarray(fn(given, logits), dtype="float64")
    except Exception as err:  # noqa: BLE001 - any failure means we cannot tell
        notes.append(f"custom loss {getattr(fn, '__name__', fn)!r} could not be probed "
                     f"({type(err).__name__}); recorded as custom")
        return "custom", "mean"
    for name, per_example in candidates.items():
        for reduction, expected in (("mean", per_example), ("mean", per_example.mean()),
                                    ("sum", per_example.sum())):
            if out.shape == np.shape(expected) and np.allclose(out, expected, rtol=1e-4):
                notes.append(f"custom loss {getattr(fn, '__name__', 'lambda')!r} computes "
                             f"{name} ({reduction} over the batch); recorded as such")
                return name, reduction
    softmax_ce = -np.sum(truth * (logits - np.log(np.exp(logits).sum(-1, keepdims=True))), -1)
    if np.allclose(logit_out.mean(), softmax_ce.mean(), rtol=1e-4):
        return "logits_crossentropy", "mean"
    notes.append(f"custom loss {getattr(fn, '__name__', fn)!r} matches no loss of the config "
                 "language; recorded as custom (loss-specific rules are skipped)")
    return "custom", "mean"
