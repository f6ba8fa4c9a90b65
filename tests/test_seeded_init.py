"""Starting weights and dropout masks of mnist-doctor's own: Keras's distributions, drawn the
same on every backend.

Keras draws both from the backend's generator, so one seed gave TensorFlow and JAX different
runs (issue 14). The cross-backend test builds the same models in a TensorFlow process and a
JAX process and asserts bit-identical weights and dropout outputs; run as a script
(`python3 tests/test_seeded_init.py jax`) this file is that worker.
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

from mnist_doctor.config import parse_config
from mnist_doctor.config.schema import NAMED_INITIALIZERS, Initializer
from mnist_doctor.model.initializers import BIAS, KERNEL, fans, initial_value

HAS_JAX = importlib.util.find_spec("jax") is not None
PARAMETRISED = {
    "constant": Initializer("constant", value=0.1),
    "normal": Initializer("normal", mean=0.5, stddev=0.2),
    "truncated_normal": Initializer("truncated_normal", mean=0.0, stddev=0.1),
    "uniform": Initializer("uniform", low=-0.3, high=0.1),
}


def keras_initializer(spec: Initializer):
    keras = pytest.importorskip("keras")
    if spec.name == "constant":
        return keras.initializers.Constant(spec.value)
    if spec.name == "normal":
        return keras.initializers.RandomNormal(spec.mean, spec.stddev, seed=1)
    if spec.name == "truncated_normal":
        return keras.initializers.TruncatedNormal(spec.mean, spec.stddev, seed=1)
    if spec.name == "uniform":
        return keras.initializers.RandomUniform(spec.low, spec.high, seed=1)
    if spec.name in ("zeros", "ones"):
        return keras.initializers.get(spec.name)
    return keras.initializers.get({"class_name": spec.name, "config": {"seed": 1}})


@pytest.mark.parametrize("spec", [Initializer(name) for name in NAMED_INITIALIZERS]
                         + list(PARAMETRISED.values()), ids=lambda spec: spec.name)
@pytest.mark.parametrize("shape", [(784, 300), (5, 5, 32, 64)], ids=["dense", "conv"])
def test_each_initialiser_draws_from_the_distribution_keras_does(spec, shape):
    ours = initial_value(spec, shape, seed=0, layer_index=0, part=KERNEL)
    theirs = np.asarray(keras_initializer(spec)(shape))
    assert ours.dtype == np.float32 and ours.shape == shape
    np.testing.assert_allclose(ours.mean(), theirs.mean(), atol=0.01 * max(theirs.std(), 0.01))
    np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.02, atol=1e-7)
    if spec.name != "normal":  # the same support: uniform limits, the +-2 sd truncation
        slack = 0.05 * theirs.std() + 1e-7
        np.testing.assert_allclose([ours.min(), ours.max()], [theirs.min(), theirs.max()],
                                   atol=slack)


def test_fans_count_a_conv_kernels_receptive_field():
    assert fans((784, 100)) == (784.0, 100.0)
    assert fans((5, 5, 32, 64)) == (800.0, 1600.0)


def test_each_weight_tensor_has_its_own_stream():
    spec = Initializer("glorot_uniform")
    first = initial_value(spec, (20, 10), 0, 0, KERNEL)
    np.testing.assert_array_equal(first, initial_value(spec, (20, 10), 0, 0, KERNEL))
    for other in (initial_value(spec, (20, 10), 1, 0, KERNEL),    # another seed
                  initial_value(spec, (20, 10), 0, 1, KERNEL),    # another layer
                  initial_value(spec, (20, 10), 0, 0, BIAS)):     # the bias
        assert not np.array_equal(first, other)


def test_a_jitter_adds_bounded_noise_to_a_constant():
    values = initial_value(Initializer("constant", value=0.1, jitter=1e-3), (100, 50), 0, 0,
                           KERNEL)
    assert np.all(np.abs(values - 0.1) <= 1e-3 + 1e-8) and values.std() > 1e-4


def test_changing_one_layers_init_leaves_the_others_weights_alone():
    pytest.importorskip("keras")
    from mnist_doctor.model.build import build_model

    def weights(kernel_init):
        config = parse_config({"model": {"layers": [
            {"type": "dense", "units": 8, "activation": "relu"},
            {"type": "dense", "units": 10, "activation": "softmax", "kernel_init": kernel_init}]},
            "train": {"epochs": 1}}, "w.yaml")
        return build_model(config).get_weights()

    glorot, he = weights("glorot_uniform"), weights("he_normal")
    np.testing.assert_array_equal(glorot[0], he[0])
    assert not np.array_equal(glorot[2], he[2])


def test_dropout_zeroes_its_rate_scales_the_rest_and_draws_anew_each_training_call():
    pytest.importorskip("keras")
    from keras import ops

    from mnist_doctor.model.dropout import CountedDropout

    layer = CountedDropout(0.25, seed=0, index=1)
    x = np.ones((200, 100), np.float32)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x, training=False)), x)
    first = ops.convert_to_numpy(layer(x, training=True))
    second = ops.convert_to_numpy(layer(x, training=True))
    assert set(np.unique(first)) == {0.0, np.float32(1 / 0.75)}
    assert abs(np.mean(first == 0) - 0.25) < 0.01
    assert not np.array_equal(first, second)
    layer(x, training=False)  # inference leaves the count, so the next mask, alone
    assert int(ops.convert_to_numpy(layer.calls)) == 2


# -- the same on every backend -------------------------------------------------------------
WORKER_CONFIG = {
    "data": {"flatten": False},
    "model": {"layers": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu",
         "kernel_init": "he_normal"},
        {"type": "max_pool2d"}, {"type": "flatten"}, {"type": "dropout", "rate": 0.3},
        {"type": "dense", "units": 32, "activation": "tanh", "kernel_init": "lecun_normal",
         "bias_init": {"truncated_normal": {"stddev": 0.1}}},
        {"type": "dropout", "rate": 0.5},
        {"type": "dense", "units": 10, "activation": "softmax",
         "kernel_init": {"constant": 0.0, "jitter": 1e-3}}]},
    "train": {"epochs": 1}, "seed": 7}


NAN_OUTPUTS = np.array([[np.nan] * 10, [0.1, np.nan, 0.3, 0.2, np.inf, 0, 0, 0, 0, np.nan],
                        [0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, np.nan]], np.float32)
NAN_CLASSES = [0, 4, 0]  # all NaN: class 0, as TF1 threads report; a NaN is never the max


def init_worker(backend: str) -> dict:
    """The model's starting weights, two training-mode outputs and the classes predicted for
    outputs that hold NaN, as lists."""
    os.environ["KERAS_BACKEND"] = backend
    from keras import ops

    from mnist_doctor.model.build import build_model
    from mnist_doctor.model.metrics import predicted_classes

    model = build_model(parse_config(WORKER_CONFIG, "w.yaml"))
    x = np.random.default_rng(0).uniform(0, 1, (6, 28, 28, 1)).astype(np.float32)
    outputs = [ops.convert_to_numpy(model(x, training=True)).tolist() for _ in range(2)]
    classes = ops.convert_to_numpy(predicted_classes(NAN_OUTPUTS)).tolist()
    return {"weights": [w.tolist() for w in model.get_weights()], "outputs": outputs,
            "nan_classes": classes}


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed (pip install mnist-doctor[jax]), "
                    "so cross-backend initialisation is not checked here")
def test_one_seed_gives_the_same_weights_dropout_masks_and_predictions_on_every_backend():
    results = json_from_each_backend(Path(__file__))
    tf_result, jax_result = results["tensorflow"], results["jax"]
    for tf_weight, jax_weight in zip(tf_result["weights"], jax_result["weights"], strict=True):
        np.testing.assert_array_equal(tf_weight, jax_weight)
    # dropout masks bit-identical; the outputs agree to float tolerance (different kernels)
    np.testing.assert_allclose(tf_result["outputs"], jax_result["outputs"], rtol=1e-4, atol=1e-6)
    assert tf_result["outputs"][0] != tf_result["outputs"][1]
    assert tf_result["nan_classes"] == jax_result["nan_classes"] == NAN_CLASSES


if __name__ == "__main__":
    print(json.dumps(init_worker(sys.argv[1])))
