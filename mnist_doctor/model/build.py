"""Config layers -> a keras.Sequential and its optimiser (losses: mnist_doctor/model/losses.py).

Every activation is its own `Activation` layer after a linear Dense/Conv2D, so the doctor can
read pre-activations (z) and activations separately; numerically this is the same network.
Layer names come from `config.layer_label`, the names telemetry and findings use.
Starting weights and dropout masks come from mnist-doctor's own seeded draws (initializers.py,
dropout.py), never from the backend's generator: one config and seed, one run, on every backend.
"""

from __future__ import annotations

import keras
from keras import ops

from mnist_doctor.config.schema import (
    ExperimentConfig,
    Initializer,
    Layer,
    activation_label,
    layer_label,
)
from mnist_doctor.model.dropout import CountedDropout
from mnist_doctor.model.initializers import BIAS, KERNEL, initial_value

LEAKY_RELU_SLOPE = 0.2  # Keras's default negative slope


def build_model(config: ExperimentConfig) -> keras.Sequential:
    input_shape = (784,) if config.data.flatten else (28, 28, 1)
    model = keras.Sequential([keras.Input(input_shape)], name=_model_name(config))
    for index, layer in enumerate(config.layers):
        for keras_layer in _keras_layers(config.seed, index, layer):
            model.add(keras_layer)
    return model


def _model_name(config: ExperimentConfig) -> str:
    """The run name as a TensorFlow scope name: ASCII letters, digits and '_', starting with
    a letter or digit (TensorFlow rejects `é`, `数` and a leading '_' or '.')."""
    ascii_name = "".join(c if c.isascii() and c.isalnum() else "_" for c in config.name)
    return ascii_name.strip("_")[:60] or "model"


def _keras_layers(seed: int, index: int, layer: Layer) -> list[keras.layers.Layer]:
    name = layer_label(index, layer)
    if layer.type == "dense":
        core = keras.layers.Dense(layer.units, name=name, **_inits(seed, index, layer))
    elif layer.type == "conv2d":
        core = keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides or 1,
                                   padding=layer.padding, name=name, **_inits(seed, index, layer))
    elif layer.type == "max_pool2d":
        return [keras.layers.MaxPooling2D(layer.pool_size, strides=layer.strides,
                                          padding=layer.padding, name=name)]
    elif layer.type == "flatten":
        return [keras.layers.Flatten(name=name)]
    else:
        return [CountedDropout(layer.rate, seed, index, name=name)]
    if layer.activation == "linear":
        return [core]
    return [core, keras.layers.Activation(_activation(layer.activation),
                                          name=activation_label(index, layer))]


def _activation(name: str):
    if name == "leaky_relu":
        return lambda z: ops.leaky_relu(z, negative_slope=LEAKY_RELU_SLOPE)
    return name


def _inits(seed: int, index: int, layer: Layer) -> dict:
    return {"kernel_initializer": SeededInitializer(layer.kernel_init, seed, index, KERNEL),
            "bias_initializer": SeededInitializer(layer.bias_init, seed, index, BIAS)}


class SeededInitializer(keras.initializers.Initializer):
    """A config initialiser drawn by model/initializers.py: numpy, seeded per weight tensor, so
    both backends start from the same weights."""

    def __init__(self, spec: Initializer, seed: int, layer_index: int, part: int):
        self.spec, self.seed, self.layer_index, self.part = spec, seed, layer_index, part

    def __call__(self, shape, dtype=None):
        value = initial_value(self.spec, tuple(shape), self.seed, self.layer_index, self.part)
        return ops.convert_to_tensor(value, dtype=dtype or "float32")

    def get_config(self) -> dict:
        return {"spec": self.spec.to_yaml(), "seed": self.seed, "layer_index": self.layer_index,
                "part": self.part}


def make_optimizer(config: ExperimentConfig) -> keras.optimizers.Optimizer:
    opt = config.optimizer
    if opt.name == "sgd":
        return keras.optimizers.SGD(opt.learning_rate, momentum=opt.momentum,
                                    nesterov=opt.nesterov)
    classes = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
               "adagrad": keras.optimizers.Adagrad}
    return classes[opt.name](opt.learning_rate)
