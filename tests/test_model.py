"""Model builder and the four losses, exactly as configs define them."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_doctor.config import parse_config

keras = pytest.importorskip("keras")

from mnist_doctor.model.build import build_model, make_optimizer  # noqa: E402
from mnist_doctor.model.losses import make_loss  # noqa: E402  # noqa: E402


def config_with(**changes):
    raw = {"model": {"layers": [
        {"type": "dense", "units": 4, "activation": "sigmoid",
         "kernel_init": {"normal": {"stddev": 1.0}}, "bias_init": {"constant": 0.1}},
        {"type": "dense", "units": 10, "activation": "softmax", "kernel_init": "zeros"}]},
        "train": {"epochs": 1}}
    return parse_config({**raw, **changes}, "model.yaml")


def test_dense_layers_are_named_by_config_index_with_separate_activations():
    model = build_model(config_with())
    assert [layer.name for layer in model.layers] == [
        "L0_dense", "L0_sigmoid", "L1_dense", "L1_softmax"]
    assert model.output_shape == (None, 10)


def test_initialisers_follow_the_config():
    keras.utils.set_random_seed(0)
    model = build_model(config_with())
    kernel, bias = model.get_layer("L0_dense").get_weights()
    assert 0.8 < kernel.std() < 1.2
    np.testing.assert_allclose(bias, 0.1)
    assert not model.get_layer("L1_dense").get_weights()[0].any()


def test_conv_net_builds_on_images():
    config = config_with(data={"flatten": False}, model={"layers": [
        {"type": "conv2d", "filters": 3, "kernel_size": 5, "padding": "same",
         "activation": "relu"},
        {"type": "max_pool2d"}, {"type": "flatten"}, {"type": "dropout", "rate": 0.1},
        {"type": "dense", "units": 10, "activation": "softmax"}]})
    model = build_model(config)
    assert model.input_shape == (None, 28, 28, 1)
    assert model.get_layer("L0_conv2d").output.shape[1:] == (28, 28, 3)
    assert model.get_layer("L1_max_pool2d").output.shape[1:] == (14, 14, 3)


def loss_values(loss_name, y_pred, **extra):
    y_true = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype="float32")
    loss = make_loss(config_with(loss=loss_name, **extra))
    return keras.ops.convert_to_numpy(loss(y_true, np.asarray(y_pred, dtype="float32")))


def test_naive_log_is_the_literal_formula():
    values = loss_values("naive_log", [[0.2, 0.5, 0.3], [0.6, 0.2, 0.2]])
    np.testing.assert_allclose(values, [-np.log(0.5), -np.log(0.6)], rtol=1e-6)


def test_naive_log_gives_nonfinite_on_a_zero_probability():
    # Row 2's true class has p = 0: log(0) = -inf. Any zero probability poisons the row,
    # because 0 * log(0) = 0 * -inf = nan: exactly what forum code hits.
    values = loss_values("naive_log", [[0.1, 0.8, 0.1], [0.0, 1.0, 0.0]])
    assert np.isfinite(values[0]) and not np.isfinite(values[1])
    assert not np.all(np.isfinite(loss_values("naive_log", [[0.0, 1.0, 0.0], [1.0, 0, 0]])))


def test_naive_log_epsilon_keeps_it_finite():
    values = loss_values("naive_log", [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], loss_epsilon=1e-7)
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values[1], -np.log(1e-7), rtol=1e-4)


def test_crossentropy_clips_zero_probabilities():
    values = loss_values("crossentropy", [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    assert np.all(np.isfinite(values)) and values[1] > 10


def test_logits_crossentropy_is_stable_on_huge_logits():
    values = loss_values("logits_crossentropy", [[0.0, 500.0, 0.0], [-400.0, 400.0, 0.0]])
    np.testing.assert_allclose(values, [0.0, 800.0], atol=1e-3)


def test_mse_averages_over_classes():
    values = loss_values("mse", [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(values, [0.0, 2.0 / 3.0], rtol=1e-6)


def test_optimizers_get_their_settings():
    sgd = make_optimizer(config_with(optimizer={"name": "sgd", "learning_rate": 0.5,
                                                "momentum": 0.9, "nesterov": True}))
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov
    assert float(sgd.learning_rate) == pytest.approx(0.5)
    adam = make_optimizer(config_with(optimizer={"name": "adam"}))
    assert isinstance(adam, keras.optimizers.Adam)
    assert float(adam.learning_rate) == pytest.approx(0.001)
