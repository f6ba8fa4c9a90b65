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
    weights = {}
    for key, variable in layer_variables(config, maps).items():
        weights[key] = np.array(variable) if variable is not None else np.zeros(
            weights[key.replace("/bias", "/kernel")].shape[-1], dtype="float32")
    return weights


def restore(config, maps, weights: dict[str, np.ndarray]) -> None:
    """Put recorded kernel and bias values back (around the localising probe only)."""
    for key, variable in layer_variables(config, maps).items():
        if variable is not None:
            variable.assign(weights[key])


def probe(model, config, maps, batch_loss, x, y) -> ProbeResult:
    variables = layer_variables(config, maps)
    watched = {key: var for key, var in variables.items() if var is not None}
    seen_in, seen_out = {}, {}
    with tf.GradientTape() as tape:
        h = tf.convert_to_tensor(x)
        for keras_layer in model.layers:
            if type(keras_layer).__name__ == "InputLayer":
                continue
            seen_in[id(keras_layer)] = h
            h = keras_layer(h, training=False)
            seen_out[id(keras_layer)] = h
        loss = batch_loss(y, h)
    grads = tape.gradient(loss, [var.value for var in watched.values()])
    grad_of = {key: (np.zeros_like(np.array(var)) if grad is None else grad.numpy())
               for (key, var), grad in zip(watched.items(), grads, strict=True)}
    for key, var in variables.items():
        if var is None:
            size = np.shape(variables[key.replace("/bias", "/kernel")])[-1]
            grad_of[key] = np.zeros(size, dtype="float32")
    return ProbeResult(loss=float(loss), outputs=_outputs(config, maps, seen_in, seen_out),
                       grads=grad_of)


def _outputs(config, maps, seen_in, seen_out) -> dict[str, np.ndarray]:
    outputs = {}
    for index, (layer, mapping) in enumerate(zip(config.layers, maps, strict=True)):
        core = mapping.core
        if mapping.activation_layer is core:  # Dense(activation=...): z without it
            saved = core.activation
            try:
                core.activation = None
                z = core(seen_in[id(core)], training=False)
            finally:
                core.activation = saved
            outputs[layer_label(index, layer)] = np.asarray(z)
            outputs[activation_label(index, layer)] = np.asarray(seen_out[id(core)])
        else:
            outputs[layer_label(index, layer)] = np.asarray(seen_out[id(core)])
            if mapping.activation_layer is not None:
                outputs[activation_label(index, layer)] = np.asarray(
                    seen_out[id(mapping.activation_layer)])
    return outputs


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
