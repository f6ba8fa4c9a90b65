"""The losses: values and gradients of each semantics, and the same numbers on every backend.

The parity test trains every loss x every last activation the schema allows, on a saturating
case (raw 0..255 pixels) and a healthy one (pixels / 255), once per Keras backend in a fresh
process (a process has one backend), from the same numpy-drawn initial weights and the same
batches, and asserts the same losses, accuracies and weights. Run as a script
(`python3 tests/test_losses.py jax`) this file is that worker.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import json_from_each_backend

HAS_JAX = importlib.util.find_spec("jax") is not None
PARITY_STEPS, PARITY_BATCH, PARITY_EXAMPLES = 8, 64, 256
PARITY_LEARNING_RATE = 0.1  # plain gradient descent; divided by 255 on raw pixels


def per_example(loss_name, y_pred, y_true=((0.0, 1.0, 0.0), (1.0, 0.0, 0.0)), **extra):
    """(values, gradient wrt y_pred) of a config's loss on the TensorFlow backend."""
    tf = pytest.importorskip("tensorflow")
    from mnist_doctor.config import parse_config
    from mnist_doctor.model.losses import make_loss

    config = parse_config({"model": {"layers": [{"type": "dense", "units": 10}]},
                           "train": {"epochs": 1}, "loss": loss_name, **extra}, "l.yaml")
    y_pred = tf.constant(np.asarray(y_pred, dtype="float32"))
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        values = make_loss(config)(tf.constant(np.asarray(y_true, "float32")), y_pred)
    return values.numpy(), tape.gradient(values, y_pred).numpy()


def test_crossentropy_renormalises_and_clips_like_keras2():
    values, _ = per_example("crossentropy", [[0.2, 0.4, 0.2], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(values, [-np.log(0.5), -np.log(1e-7)], rtol=1e-5)


def test_crossentropy_has_no_gradient_where_a_saturated_softmax_is_clipped():
    # The true class's probability underflowed to 0: clipped, so nothing flows back to it.
    _, grad = per_example("crossentropy", [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
                          y_true=[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert not grad.any()


def test_logits_crossentropy_is_stable_and_its_gradient_is_softmax_minus_y():
    values, grad = per_example("logits_crossentropy", [[0.0, 500.0, 0.0], [-400.0, 400.0, 0.0]])
    np.testing.assert_allclose(values, [0.0, 800.0], atol=1e-3)
    np.testing.assert_allclose(grad, [[0, 0, 0], [-1, 1, 0]], atol=1e-6)


def test_naive_log_and_mse_are_the_literal_formulas():
    values, _ = per_example("naive_log", [[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]])
    # log(0) = -inf on the true class, and 0 * log(0) = nan on the others: exactly forum code.
    assert values[0] == pytest.approx(-np.log(0.5)) and np.isnan(values[1])
    values, _ = per_example("naive_log", [[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]], loss_epsilon=1e-7)
    assert values[1] == pytest.approx(-np.log(1e-7), rel=1e-4)
    values, grad = per_example("mse", [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(values, [0.0, 2.0 / 3.0], rtol=1e-6)
    np.testing.assert_allclose(grad[1], [-2 / 3, 0, 2 / 3], rtol=1e-6)


# -- the same numbers on every backend -----------------------------------------------------
def parity_configs() -> dict[str, dict]:
    from mnist_doctor.config.schema import ACTIVATIONS, LOSSES

    configs = {}
    for normalize in (False, True):
        for activation in ACTIVATIONS:
            for loss in LOSSES:
                name = f"{'scaled' if normalize else 'raw'}/{activation}/{loss}"
                configs[name] = _parity_config(normalize, activation, loss, "mean")
    for loss in LOSSES:  # the batch reduction TF1 threads used
        configs[f"scaled/softmax/{loss}/sum"] = _parity_config(True, "softmax", loss, "sum")
    return configs


def _parity_config(normalize, activation, loss, reduction) -> dict:
    return {"data": {"normalize": normalize}, "loss": loss, "loss_reduction": reduction,
            "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                                 {"type": "dense", "units": 10, "activation": activation}]},
            "train": {"batch_size": PARITY_BATCH, "steps": PARITY_STEPS}}


def parity_worker(backend: str) -> dict[str, list[float]]:
    """Train every parity config on this process's backend with plain gradient descent, from
    the same numpy-drawn weights on the same batches; return each step's loss and the end."""
    os.environ["KERAS_BACKEND"] = backend
    from keras import ops

    from mnist_doctor.config import parse_config
    from mnist_doctor.model.build import build_model
    from mnist_doctor.model.losses import make_loss

    with np.load(os.environ["MNIST_DOCTOR_DATA"]) as mnist:
        x_raw = mnist["x_train"][:PARITY_EXAMPLES].reshape(-1, 784).astype("float32")
        labels = mnist["y_train"][:PARITY_EXAMPLES]
    y = np.eye(10, dtype="float32")[labels]
    batches = np.random.default_rng(0).integers(0, PARITY_EXAMPLES, (PARITY_STEPS, PARITY_BATCH))
    results = {}
    for name, raw in parity_configs().items():
        config = parse_config(raw, "parity.yaml")
        x = x_raw / 255.0 if config.data.normalize else x_raw
        model, loss_fn = build_model(config), make_loss(config)
        draw = np.random.default_rng(1)
        model.set_weights([draw.uniform(-0.1, 0.1, w.shape).astype("float32")
                           for w in model.get_weights()])
        gradient = _gradient_function(backend, model, loss_fn, config.loss_reduction)
        learning_rate = PARITY_LEARNING_RATE / (1 if config.data.normalize else 255)
        losses = []
        for batch in batches:
            loss, grads = gradient(x[batch], y[batch])
            losses.append(loss)
            for variable, grad in zip(model.trainable_variables, grads, strict=True):
                variable.assign(ops.convert_to_numpy(variable.value) - learning_rate * grad)
        y_pred = ops.convert_to_numpy(model(x, training=False))
        end = [float(np.mean(ops.convert_to_numpy(loss_fn(y, y_pred)))),
               float(np.mean(y_pred.argmax(-1) == labels)),
               float(sum(np.linalg.norm(w) for w in model.get_weights()))]
        results[name] = losses + end
    return results


def _gradient_function(backend, model, loss_fn, reduction):
    """(x, y) -> (mean per-example loss, gradients of the reduced loss) on this backend."""
    from keras import ops

    reduce = ops.sum if reduction == "sum" else ops.mean
    if backend == "tensorflow":
        import tensorflow as tf

        def gradient(x, y):
            with tf.GradientTape() as tape:
                per_example = loss_fn(y, model(x, training=True))
                loss = reduce(per_example)
            grads = tape.gradient(loss, model.trainable_variables)
            return float(ops.mean(per_example)), [g.numpy() for g in grads]
        return gradient
    import jax

    def reduced(trainable, x, y):
        non_trainable = [v.value for v in model.non_trainable_variables]
        y_pred, _ = model.stateless_call(trainable, non_trainable, x, training=True)
        per_example = loss_fn(y, y_pred)
        return reduce(per_example), ops.mean(per_example)

    def gradient(x, y):
        trainable = [v.value for v in model.trainable_variables]
        (_, mean), grads = jax.value_and_grad(reduced, has_aux=True)(trainable, x, y)
        return float(mean), [np.asarray(g) for g in grads]
    return gradient


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed (pip install mnist-doctor[jax]), "
                    "so the cross-backend loss parity is not checked here")
def test_every_loss_and_last_activation_gives_the_same_numbers_on_every_backend():
    results = json_from_each_backend(Path(__file__))
    tf_results, jax_results = results["tensorflow"], results["jax"]
    assert tf_results.keys() == jax_results.keys()
    differ = [f"{name}: tensorflow {tf_results[name]} jax {jax_results[name]}"
              for name in tf_results if not same_outcome(name, tf_results, jax_results)]
    assert not differ, "\n".join(differ)


def same_outcome(name, tf_results, jax_results) -> bool:
    """Every step's loss, the end loss, accuracy and weight norm agree to float tolerance.
    Where the doctor says the loss reads non-probabilities as probabilities (log of negative
    or all-zero outputs), the float noise of dividing by a sum near 0 grows chaotically, and
    once the loss is nan the backends' activation gradients pass nan on differently; there
    the first step's loss and which losses are finite must agree."""
    from mnist_doctor.config import parse_config
    from mnist_doctor.doctor.rules.static import output_not_probabilities

    tf_numbers, jax_numbers = np.array(tf_results[name]), np.array(jax_results[name])
    if output_not_probabilities(parse_config(parity_configs()[name], "parity.yaml")):
        return (np.allclose(tf_numbers[0], jax_numbers[0], rtol=2e-3, equal_nan=True)
                and np.array_equal(np.isfinite(tf_numbers[:PARITY_STEPS + 1]),
                                   np.isfinite(jax_numbers[:PARITY_STEPS + 1])))
    return np.allclose(tf_numbers, jax_numbers, rtol=2e-3, atol=1e-5, equal_nan=True)


if __name__ == "__main__":
    print(json.dumps(parity_worker(sys.argv[1])))
