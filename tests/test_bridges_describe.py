"""A Keras model described in the config language, without training: layers, activations,
initialisers, losses (user functions recognised by what they compute), what cannot be said."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from mnist_doctor.bridges.describe import describe, describe_loss
from mnist_doctor.config.loader import parse_config
from mnist_doctor.doctor.rules.static import static_findings

X = np.full((8, 784), 255.0, dtype="float32")
Y = np.eye(10, dtype="float32")[np.arange(8) % 10]


def described(layers, loss="categorical_crossentropy", optimizer="sgd", x=X):
    model = keras.Sequential([keras.Input(x.shape[1:]), *layers])
    model.compile(optimizer=optimizer, loss=loss)
    return describe(model, name="m", x=x, y=Y, batch_size=100, epochs=2)


def test_activations_inside_and_after_layers_become_config_activations():
    result = described([keras.layers.Dense(32, kernel_initializer="zeros"),
                        keras.layers.Activation("softmax"), keras.layers.Dropout(0.2),
                        keras.layers.Dense(16), keras.layers.Dense(10, activation="softmax")])
    layers = result.config.layers
    assert [(layer.type, layer.activation) for layer in layers] == [
        ("dense", "softmax"), ("dropout", "linear"), ("dense", "linear"), ("dense", "softmax")]
    assert layers[0].kernel_init.name == "zeros" and not result.config.data.normalize
    codes = [finding.code for finding in static_findings(result.config)]
    assert codes[:3] == ["softmax_in_hidden_layer", "constant_init", "missing_activation"]
    assert "unnormalized_input" in codes


def test_what_the_language_cannot_say_is_listed_not_guessed():
    result = described([keras.layers.Dense(32, activation="swish"),
                        keras.layers.BatchNormalization(),
                        keras.layers.Dense(10, activation="softmax")],
                       optimizer=keras.optimizers.Nadam())
    notes = " | ".join(result.not_expressed)
    assert "silu" in notes and "BatchNormalization" in notes and "Nadam" in notes
    assert len(result.config.layers) == 2


def test_keras_losses_and_their_reductions():
    notes: list[str] = []
    assert describe_loss("categorical_crossentropy", Y, notes) == ("crossentropy", "mean")
    assert describe_loss(keras.losses.CategoricalCrossentropy(from_logits=True), Y, notes) == \
        ("logits_crossentropy", "mean")
    assert describe_loss(keras.losses.CategoricalCrossentropy(reduction="sum"), Y, notes) == \
        ("crossentropy", "sum")
    assert describe_loss("mse", Y, notes) == ("mse", "mean")


def test_user_loss_functions_are_recognised_by_what_they_compute():
    notes: list[str] = []
    naive_sum = lambda y, p: -tf.reduce_sum(y * tf.math.log(p))  # noqa: E731
    naive_mean = lambda y, p: -tf.reduce_sum(y * tf.math.log(p), axis=-1)  # noqa: E731
    odd = lambda y, p: tf.reduce_mean(tf.abs(y - p)) * 3  # noqa: E731
    assert describe_loss(naive_sum, Y, notes) == ("naive_log", "sum")
    assert describe_loss(naive_mean, Y, notes) == ("naive_log", "mean")
    assert describe_loss(odd, Y, notes) == ("custom", "mean")


def test_the_recorded_config_loads_back():
    result = described([keras.layers.Dense(32, activation="relu"),
                        keras.layers.Dense(10, activation="softmax")],
                       loss=lambda y, p: tf.reduce_mean(tf.abs(y - p)))
    assert parse_config(result.config.to_yaml_dict()).loss == "custom"
