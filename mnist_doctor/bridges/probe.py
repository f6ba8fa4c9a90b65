"""One probe of a user's model with TensorFlow's GradientTape, in telemetry's naming.

The same measurement the TensorFlow Stepper makes (train/tensorflow_backend.py): every layer's
output in inference mode and the gradient of the user's loss for every kernel and bias, on a
fixed batch, with nothing written back. Outputs are keyed by the config labels of describe.py:
`L<i>_dense` holds the pre-activation, `L<i>_relu` the activation, also when the activation was
given inside Dense(activation=...) (the pre-activation is then recomputed without it).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mnist_doctor.config.schema import activation_label, layer_label
from mnist_doctor.train.stepper import ProbeResult

FAILING_ROWS = 64  # at most this many non-finite examples make the localising probe


def layer_variables(config, maps) -> dict:
    """`L<i>_<type>/kernel` and `/bias` -> the Keras variable (None: the layer has no bias)."""
    found = {}
    for index, (layer, mapping) in enumerate(zip(config.layers, maps, strict=True)):
        if layer.trainable:
            label = layer_label(index, layer)
            found[f"{label}/kernel"] = mapping.core.kernel
            found[f"{label}/bias"] = getattr(mapping.core, "bias", None)
    return found


def layer_weights(config, maps) -> dict[str, np.ndarray]:
    """The current kernels and biases as NumPy (a missing bias as zeros)."""
    return as_numpy(layer_snapshot(config, maps))


def layer_snapshot(config, maps) -> dict:
    """The current kernels and biases as tensors (None: no bias)."""
    return {key: None if variable is None else tf.identity(variable.value)
            for key, variable in layer_variables(config, maps).items()}


class Shadow:
    """A copy of the kernels and biases, refreshed before every update in one compiled call
    (~0.1 ms; NumPy copies cost ~2 ms a step), read only when a non-finite loss needs the
    weights its update started from."""

    def __init__(self, config, maps):
        self.variables = {key: var for key, var in layer_variables(config, maps).items()
                          if var is not None}
        self.copies = {key: tf.Variable(var.value, trainable=False)
                       for key, var in self.variables.items()}
        self._copy = tf.function(self._copy_fn)

    def _copy_fn(self):
        for key, variable in self.variables.items():
            self.copies[key].assign(variable.value)

    def refresh(self) -> None:
        self._copy()

    def values(self) -> dict:
        return {key: tf.identity(copy) for key, copy in self.copies.items()}


def as_numpy(snapshot: dict) -> dict[str, np.ndarray]:
    """Tensors as NumPy; a missing bias (None or absent) as zeros, as telemetry expects."""
    weights = {key: value.numpy() for key, value in snapshot.items() if value is not None}
    for key in [key for key in weights if key.endswith("/kernel")]:
        bias = key.replace("/kernel", "/bias")
        weights.setdefault(bias, np.zeros(weights[key].shape[-1], dtype="float32"))
    return weights


def restore(config, maps, weights: dict) -> None:
    """Put recorded kernel and bias values back (around the localising probe only)."""
    for key, variable in layer_variables(config, maps).items():
        if variable is not None and weights.get(key) is not None:
            variable.assign(weights[key])


class Prober:
    """The probe of one model, traced once per batch shape (eager took ~30 ms a probe)."""

    def __init__(self, model, config, maps, batch_loss):
        self.model, self.config, self.maps = model, config, maps
        self.variables = layer_variables(config, maps)
        self.watched = {key: var for key, var in self.variables.items() if var is not None}
        self.batch_loss = batch_loss
        self.layers = [layer for layer in model.layers
                       if type(layer).__name__ != "InputLayer"]
        self._traced = tf.function(self._forward_backward, reduce_retracing=True)

    def _forward_backward(self, x, y):
        ins, outs = [], []
        with tf.GradientTape() as tape:
            h = x
            for keras_layer in self.layers:
                ins.append(h)
                h = keras_layer(h, training=False)
                outs.append(h)
            loss = self.batch_loss(y, h)
        grads = tape.gradient(loss, [var.value for var in self.watched.values()])
        return loss, ins, outs, grads

    def __call__(self, x, y) -> ProbeResult:
        loss, ins, outs, grads = self._traced(tf.convert_to_tensor(x), tf.convert_to_tensor(y))
        seen_in = {id(layer): t for layer, t in zip(self.layers, ins, strict=True)}
        seen_out = {id(layer): t for layer, t in zip(self.layers, outs, strict=True)}
        grad_of = {key: (np.zeros(var.shape, "float32") if grad is None else grad.numpy())
                   for (key, var), grad in zip(self.watched.items(), grads, strict=True)}
        for key, var in self.variables.items():
            if var is None:
                size = self.variables[key.replace("/bias", "/kernel")].shape[-1]
                grad_of[key] = np.zeros(size, dtype="float32")
        return ProbeResult(loss=float(loss),
                           outputs=_outputs(self.config, self.maps, seen_in, seen_out),
                           grads=grad_of)


def _outputs(config, maps, seen_in, seen_out) -> dict[str, np.ndarray]:
    outputs = {}
    for index, (layer, mapping) in enumerate(zip(config.layers, maps, strict=True)):
        core = mapping.core
        if mapping.activation_layer is core:  # Dense(activation=...): z without it
            outputs[layer_label(index, layer)] = _preactivation(core, seen_in[id(core)])
            outputs[activation_label(index, layer)] = np.asarray(seen_out[id(core)])
        else:
            outputs[layer_label(index, layer)] = np.asarray(seen_out[id(core)])
            if mapping.activation_layer is not None:
                outputs[activation_label(index, layer)] = np.asarray(
                    seen_out[id(mapping.activation_layer)])
    return outputs


def _preactivation(core, inputs) -> np.ndarray:
    """A layer's output without its built-in activation: x @ W + b for Dense, the layer
    called with its activation switched off (and back on) otherwise."""
    if type(core).__name__ == "Dense" and len(inputs.shape) == 2:
        z = inputs.numpy() @ core.kernel.value.numpy()
        return z + core.bias.value.numpy() if core.bias is not None else z
    saved = core.activation
    try:
        core.activation = None
        return np.asarray(core(inputs, training=False))
    finally:
        core.activation = saved


def failing_examples(model, batch_loss, x, y, batch_size: int):
    """Training examples whose output or loss is non-finite with the current weights: the
    first chunk holding any, narrowed by halving when only the batch loss shows it."""
    for start in range(0, len(x), batch_size):
        xs, ys = x[start:start + batch_size], y[start:start + batch_size]
        predicted = np.asarray(model(xs, training=False))
        bad = ~np.all(np.isfinite(predicted.reshape(len(xs), -1)), axis=1)
        if bad.any():
            return xs[bad][:FAILING_ROWS], ys[bad][:FAILING_ROWS]
        if np.isfinite(batch_loss(ys, predicted)):
            continue
        rows = np.arange(len(xs))
        while len(rows) > 1:
            half = rows[: len(rows) // 2]
            rows = half if not np.isfinite(batch_loss(ys[half], predicted[half])) \
                else rows[len(rows) // 2:]
        return xs[rows], ys[rows]
    return None, None
