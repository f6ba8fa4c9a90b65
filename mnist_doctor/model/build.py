"""Config layers -> a keras.Sequential and its optimiser (losses: mnist_doctor/model/losses.py).

Every activation is its own `Activation` layer after a linear Dense/Conv2D, so the doctor can
read pre-activations (z) and activations separately; numerically this is the same network.
Layer names come from `config.layer_label`, the names telemetry and findings use.
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

LEAKY_RELU_SLOPE = 0.2  # Keras's default negative slope


def build_model(config: ExperimentConfig) -> keras.Sequential:
    input_shape = (784,) if config.data.flatten else (28, 28, 1)
    model = keras.Sequential([keras.Input(input_shape)], name=_model_name(config))
    for index, layer in enumerate(config.layers):
        for keras_layer in _keras_layers(index, layer):
            model.add(keras_layer)
    return model


def _model_name(config: ExperimentConfig) -> str:
    """The run name as a TensorFlow scope name: ASCII letters, digits and '_', starting with
    a letter or digit (TensorFlow rejects `é`, `数` and a leading '_' or '.')."""
    ascii_name = "".join(c if c.isascii() and c.isalnum() else "_" for c in config.name)
    return ascii_name.strip("_")[:60] or "model"


def _keras_layers(index: int, layer: Layer) -> list[keras.layers.Layer]:
    name = layer_label(index, layer)
    if layer.type == "dense":
        core = keras.layers.Dense(layer.units, name=name, **_inits(layer))
    elif layer.type == "conv2d":
        core = keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides or 1,
                                   padding=layer.padding, name=name, **_inits(layer))
    elif layer.type == "max_pool2d":
        return [keras.layers.MaxPooling2D(layer.pool_size, strides=layer.strides,
                                          padding=layer.padding, name=name)]
    elif layer.type == "flatten":
        return [keras.layers.Flatten(name=name)]
    else:
        return [keras.layers.Dropout(layer.rate, name=name)]
    if layer.activation == "linear":
        return [core]
    return [core, keras.layers.Activation(_activation(layer.activation),
                                          name=activation_label(index, layer))]


def _activation(name: str):
    if name == "leaky_relu":
        return lambda z: ops.leaky_relu(z, negative_slope=LEAKY_RELU_SLOPE)
    return name


def _inits(layer: Layer) -> dict:
    return {"kernel_initializer": make_initializer(layer.kernel_init),
            "bias_initializer": make_initializer(layer.bias_init)}


def make_initializer(spec: Initializer) -> keras.initializers.Initializer | str:
    base = _base_initializer(spec)
    return Jittered(base, spec.jitter) if spec.jitter else base


class Jittered(keras.initializers.Initializer):
    """The base initialiser's values plus i.i.d. uniform noise in [-jitter, jitter], drawn
    from Keras's seeded global RNG so a run stays reproducible."""

    def __init__(self, base, jitter: float):
        self.base, self.jitter = keras.initializers.get(base), jitter

    def __call__(self, shape, dtype=None):
        noise = keras.random.uniform(shape, -self.jitter, self.jitter, dtype=dtype)
        return self.base(shape, dtype=dtype) + noise

    def get_config(self) -> dict:
        return {"base": keras.initializers.serialize(self.base), "jitter": self.jitter}


def _base_initializer(spec: Initializer) -> keras.initializers.Initializer | str:
    if spec.name == "constant":
        return keras.initializers.Constant(spec.value)
    if spec.name == "normal":
        return keras.initializers.RandomNormal(spec.mean, spec.stddev)
    if spec.name == "truncated_normal":
        return keras.initializers.TruncatedNormal(spec.mean, spec.stddev)
    if spec.name == "uniform":
        return keras.initializers.RandomUniform(spec.low, spec.high)
    return spec.name


def make_optimizer(config: ExperimentConfig) -> keras.optimizers.Optimizer:
    opt = config.optimizer
    if opt.name == "sgd":
        return keras.optimizers.SGD(opt.learning_rate, momentum=opt.momentum,
                                    nesterov=opt.nesterov)
    classes = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
               "adagrad": keras.optimizers.Adagrad}
    return classes[opt.name](opt.learning_rate)
