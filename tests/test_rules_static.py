"""Each static rule on small configs: the mistake it names, and the near-miss it leaves alone."""

from __future__ import annotations

import math

import pytest

from mnist_doctor.config import parse_config, shapes
from mnist_doctor.doctor.rules import static as rs

RELU = {"type": "dense", "units": 128, "activation": "relu"}
OUT = {"type": "dense", "units": 10, "activation": "softmax"}


def config(*layers, **top):
    return parse_config({"name": "t", "model": {"layers": list(layers)},
                         "train": {"steps": 100}, **top})


def codes(findings):
    return [finding.code for finding in findings]


def test_a_sound_config_has_no_static_findings():
    assert rs.static_findings(config(RELU, OUT)) == []
    conv = config({"type": "conv2d", "filters": 32, "activation": "relu"},
                  {"type": "max_pool2d"}, {"type": "flatten"}, OUT, data={"flatten": False})
    assert rs.static_findings(conv) == []


def test_softmax_in_a_hidden_layer_but_not_on_the_output():
    (finding,) = rs.softmax_in_hidden_layer(config({**RELU, "activation": "softmax"}, OUT))
    assert (finding.severity, finding.layer) == ("error", "L0_dense")
    assert finding.evidence["mean_output"] == pytest.approx(1 / 128, rel=1e-3)
    assert rs.softmax_in_hidden_layer(config(OUT)) == []


def test_constant_init_in_a_layer_that_feeds_another_is_an_error():
    zeros = {**RELU, "kernel_init": "zeros"}
    (finding,) = rs.constant_init(config(zeros, {**OUT, "kernel_init": "zeros"}))
    assert (finding.severity, finding.layer) == ("error", "L0_dense")
    ones = {**RELU, "activation": "tanh", "kernel_init": {"constant": 0.5}}
    assert rs.constant_init(config(ones, OUT))[0].severity == "error"


def test_zero_init_on_the_last_layer_is_fine():
    """The tutorial's softmax regression: W = zeros, ~92% accuracy."""
    assert rs.constant_init(config({**OUT, "kernel_init": "zeros"})) == []


def test_zero_init_that_the_next_layers_random_weights_can_untie_is_a_warning():
    tanh = {**RELU, "activation": "tanh", "kernel_init": "zeros"}
    assert rs.constant_init(config(tanh, OUT))[0].severity == "warning"
    relu = {**RELU, "kernel_init": "zeros"}  # relu'(0) = 0: the gradient never arrives
    assert rs.constant_init(config(relu, OUT))[0].severity == "error"


def test_a_constant_init_trained_with_gradient_jitter_is_a_warning_that_names_it():
    zeros = {**RELU, "kernel_init": "zeros"}
    out = {**OUT, "kernel_init": "zeros"}
    (exact,) = rs.constant_init(config(zeros, out))
    (finding,) = rs.constant_init(config(zeros, out, optimizer={"name": "adam",
                                                                "gradient_jitter": 6e-8}))
    assert exact.severity == "error" and finding.severity == "warning"
    assert "6e-08 gradient jitter" in finding.message


def test_a_jittered_constant_init_is_a_warning_that_names_the_jitter():
    jittered = {**RELU, "kernel_init": {"constant": 0.0, "jitter": 1e-7}}
    (finding,) = rs.constant_init(config(jittered, {**OUT, "kernel_init": "zeros"}))
    assert finding.severity == "warning"
    assert "up to a jitter of 1e-07" in finding.message


def test_missing_activation_between_two_trainable_layers():
    linear = {"type": "dense", "units": 30}
    (finding,) = rs.missing_activation(config(linear, OUT))
    assert finding.evidence["pairs"] == [["L0_dense", "L1_dense"]]
    assert rs.missing_activation(config(RELU, OUT)) == []
    assert rs.missing_activation(config({**OUT, "activation": "linear"}),) == []


def test_missing_activation_sees_through_flatten_and_dropout_but_not_pooling():
    conv = {"type": "conv2d", "filters": 8}
    through = config(conv, {"type": "flatten"}, {"type": "dropout"}, OUT,
                     data={"flatten": False})
    assert codes(rs.missing_activation(through)) == ["missing_activation"]
    pooled = config(conv, {"type": "max_pool2d"}, {"type": "flatten"}, OUT,
                    data={"flatten": False})
    assert rs.missing_activation(pooled) == []


def test_double_softmax_only_with_logits_crossentropy():
    assert codes(rs.double_softmax(config(RELU, OUT, loss="logits_crossentropy"))) == [
        "double_softmax"]
    assert rs.double_softmax(config(RELU, OUT, loss="crossentropy")) == []
    linear_out = {**OUT, "activation": "linear"}
    assert rs.double_softmax(config(RELU, linear_out, loss="logits_crossentropy")) == []


@pytest.mark.parametrize(("activation", "loss", "fires"), [
    ("linear", "crossentropy", True), ("sigmoid", "naive_log", True),
    ("softmax", "naive_log", False), ("sigmoid", "mse", False),
    ("linear", "logits_crossentropy", False), ("relu", "crossentropy", True),
    ("tanh", "crossentropy", True),
    # crossentropy renormalises the outputs (Keras 2), so positive sigmoid outputs are read
    # as a distribution; naive_log reads them raw.
    ("sigmoid", "crossentropy", False),
])
def test_output_not_probabilities(activation, loss, fires):
    found = rs.output_not_probabilities(config(RELU, {**OUT, "activation": activation},
                                               loss=loss))
    assert codes(found) == (["output_not_probabilities"] if fires else [])


def test_unnormalized_input_is_a_warning():
    (finding,) = rs.unnormalized_input(config(RELU, OUT, data={"normalize": False}))
    assert finding.severity == "warning" and finding.evidence["input_range"] == [0, 255]
    assert rs.unnormalized_input(config(RELU, OUT)) == []


def test_mse_for_classification_is_a_warning():
    assert rs.mse_for_classification(config(RELU, OUT, loss="mse"))[0].severity == "warning"
    assert rs.mse_for_classification(config(RELU, OUT)) == []


def test_fan_in_follows_the_shape_through_conv_pool_and_flatten():
    layers = config({"type": "conv2d", "filters": 32, "kernel_size": 3, "activation": "relu"},
                    {"type": "max_pool2d"},
                    {"type": "conv2d", "filters": 64, "kernel_size": 5, "activation": "relu",
                     "padding": "same"},
                    {"type": "flatten"}, OUT, data={"flatten": False})
    # 28 -conv3-> 26 -pool2-> 13 -conv5 same-> 13; 13*13*64 = 10816 into the dense layer
    assert shapes.fan_ins(layers) == {0: 9, 2: 5 * 5 * 32, 4: 13 * 13 * 64}


HE_784 = math.sqrt(2 / 784)  # 0.0505


@pytest.mark.parametrize(("stddev", "fires"), [(3.01 * HE_784, True), (2.99 * HE_784, False)])
def test_large_init_scale_at_three_times_he(stddev, fires):
    layer = {**RELU, "kernel_init": {"normal": {"stddev": stddev}}}
    found = rs.large_init_scale(config(layer, OUT))
    assert codes(found) == (["large_init_scale"] if fires else [])


def test_large_init_scale_states_the_numbers_for_every_layer():
    """Nielsen's book network: N(0, 1) weights into 784 and 30 inputs."""
    normal = {"normal": {"stddev": 1.0}}
    found = rs.large_init_scale(config({"type": "dense", "units": 30, "kernel_init": normal},
                                       {**OUT, "kernel_init": normal}))
    first, second = found[0].evidence["layers"]
    assert (first["fan_in"], first["he_std"], first["ratio"]) == (784, 0.050508, 19.8)
    assert (second["fan_in"], second["ratio"]) == (30, 3.87)
    assert "19.8 times" in found[0].message


def test_large_init_scale_uses_the_real_spread_of_truncated_and_uniform():
    truncated = {**RELU, "kernel_init": {"truncated_normal": {"stddev": 3.2 * HE_784}}}
    assert rs.large_init_scale(config(truncated, OUT)) == []  # 3.2 * 0.88 = 2.8x
    half_width = 3.01 * HE_784 * math.sqrt(3)  # uniform(-a, a) has std a / sqrt(3)
    uniform = {**RELU, "kernel_init": {"uniform": {"low": -half_width, "high": half_width}}}
    assert codes(rs.large_init_scale(config(uniform, OUT))) == ["large_init_scale"]
    assert rs.large_init_scale(config({**RELU, "kernel_init": "he_normal"}, OUT)) == []


def test_conv_fan_in_is_kernel_area_times_channels():
    wide = {"type": "conv2d", "filters": 8, "activation": "relu",
            "kernel_init": {"normal": {"stddev": 1.0}}}
    # fan_in 9: He std 0.47, so std 1 is only 2.1x
    found = rs.large_init_scale(config(wide, {"type": "flatten"}, OUT, data={"flatten": False}))
    assert found == []


def test_init_gains_that_multiply_over_depth_but_not_a_moderate_net():
    # stddev 0.1 is 2x He's sqrt(2/200) = 0.1: harmless in one layer, 2^4 = 16x over four
    wide = [{"type": "dense", "units": 200, "activation": "relu",
             "kernel_init": {"normal": {"stddev": 0.1 * (0.5 if i == 0 else 2.0)}}}
            for i in range(4)]
    (finding,) = rs.deep_init_compounding(config(*wide, OUT))
    assert finding.code == "deep_init_compounding" and finding.evidence["product"] > 10
    assert rs.large_init_scale(config(*wide, OUT)) == []  # no single layer is 3x off
    he = [{**layer, "kernel_init": "he_normal"} for layer in wide]
    assert rs.deep_init_compounding(config(*he, OUT)) == []
    assert rs.deep_init_compounding(config(*wide[:1], OUT)) == []  # too shallow to compound


def test_a_summed_loss_multiplies_sgds_step_by_the_batch_but_not_adams():
    summed = {"loss_reduction": "sum", "optimizer": {"name": "sgd", "learning_rate": 0.05},
              "train": {"steps": 100, "batch_size": 100}}
    (finding,) = rs.summed_loss_large_batch(config(RELU, OUT, **summed))
    assert finding.evidence["effective_learning_rate"] == pytest.approx(5.0)
    adam = {**summed, "optimizer": {"name": "adam", "learning_rate": 0.05}}
    assert rs.summed_loss_large_batch(config(RELU, OUT, **adam)) == []
    small = {**summed, "train": {"steps": 100, "batch_size": 10}}
    assert rs.summed_loss_large_batch(config(RELU, OUT, **small)) == []
