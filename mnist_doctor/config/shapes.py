"""Shapes through a config's layers: what each layer receives, computed without Keras.

The doctor needs fan-ins (init scales, gradient norms per weight) and the runner needs sizes
(how big a model is before it is built); both read them from here.
"""

from __future__ import annotations

import math

from mnist_doctor.config.schema import ExperimentConfig

IMAGE_SHAPE = (28, 28, 1)


def fan_ins(config: ExperimentConfig) -> dict[int, int]:
    """The number of inputs to one unit of each trainable layer, following the tensor shape
    from the 28x28x1 image (or its 784 flattened pixels) through the layers."""
    shape: tuple[int, ...] = (784,) if config.data.flatten else IMAGE_SHAPE
    result = {}
    for index, layer in enumerate(config.layers):
        if layer.type == "dense":
            result[index], shape = shape[-1], (layer.units,)
        elif layer.type == "conv2d":
            result[index] = layer.kernel_size ** 2 * shape[-1]
            size = _spatial(shape[0], layer.kernel_size, layer.strides or 1, layer.padding)
            shape = (size, size, layer.filters)
        elif layer.type == "max_pool2d":
            size = _spatial(shape[0], layer.pool_size, layer.strides or layer.pool_size,
                            layer.padding)
            shape = (size, size, shape[-1])
        elif layer.type == "flatten":
            shape = (math.prod(shape),)
    return result


def _spatial(size: int, window: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return max((size - window) // stride + 1, 1)


def parameter_counts(config: ExperimentConfig) -> dict[int, int]:
    """Trainable parameters (kernel + bias) of each trainable layer, by layer index."""
    fans = fan_ins(config)
    return {index: (fans[index] + 1) * (layer.units or layer.filters or 0)
            for index, layer in enumerate(config.layers) if index in fans}


# Float32 copies of every parameter while training: weights and gradients, plus the optimiser's
# slots (Adam: two moments; RMSprop/Adagrad: one; SGD: one when it has momentum).
OPTIMIZER_COPIES = {"adam": 4, "rmsprop": 3, "adagrad": 3, "sgd": 2}


def training_bytes(config: ExperimentConfig) -> int:
    """A lower bound on the memory one run needs: parameter copies plus one batch's widest
    activations (forward and backward). Real use is higher; this is for refusing the hopeless."""
    copies = OPTIMIZER_COPIES.get(config.optimizer.name, 4)
    if config.optimizer.name == "sgd" and config.optimizer.momentum:
        copies += 1
    widths = [layer.units for layer in config.layers if layer.units]
    activations = 2 * config.train.batch_size * (max(widths) if widths else 0)
    return 4 * (copies * sum(parameter_counts(config).values()) + activations)
