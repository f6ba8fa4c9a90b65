"""Config layers -> a keras.Sequential, and the four losses exactly as the issue defines them.

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
    if spec.name == "constant":
        return keras.initializers.Constant(spec.value)
    if spec.name == "normal":
        return keras.initializers.RandomNormal(spec.mean, spec.stddev)
    if spec.name == "truncated_normal":
        return keras.initializers.TruncatedNormal(spec.mean, spec.stddev)
    if spec.name == "uniform":
        return keras.initializers.RandomUniform(spec.low, spec.high)
    return spec.name


def make_loss(config: ExperimentConfig):
    """Per-example loss(y_true, y_pred) -> shape (batch,). Reduction is applied by training."""
    if config.loss == "naive_log":
        epsilon = config.loss_epsilon

        def naive_log(y_true, y_pred):
            # Literally -sum(y * log(p)) as forum code writes it: no clipping, so a
            # probability that underflows to 0 gives log(0) = -inf and 0 * -inf = nan.
            return -ops.sum(y_true * ops.log(y_pred + epsilon), axis=-1)

        return naive_log
    if config.loss == "crossentropy":
        return lambda y_true, y_pred: keras.losses.categorical_crossentropy(y_true, y_pred)
    if config.loss == "logits_crossentropy":
        return lambda y_true, y_pred: keras.losses.categorical_crossentropy(
            y_true, y_pred, from_logits=True)
    return lambda y_true, y_pred: ops.mean(ops.square(y_true - y_pred), axis=-1)


def make_optimizer(config: ExperimentConfig) -> keras.optimizers.Optimizer:
    opt = config.optimizer
    if opt.name == "sgd":
        return keras.optimizers.SGD(opt.learning_rate, momentum=opt.momentum,
                                    nesterov=opt.nesterov)
    classes = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
               "adagrad": keras.optimizers.Adagrad}
    return classes[opt.name](opt.learning_rate)
