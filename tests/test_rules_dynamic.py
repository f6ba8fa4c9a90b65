"""Each dynamic rule on synthetic telemetry: firing just past its threshold, silent just short
of it. No TensorFlow: the numbers are what telemetry.csv would hold."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mnist_doctor.config import parse_config
from mnist_doctor.doctor.rules import gradients, layers, outcome, step_size
from mnist_doctor.doctor.rules.layers import RunData

STEPS = [0, 1, 2, 3, 4] + list(range(25, 1001, 25))  # the probe cadence of a 1000-step run
MLP = [{"type": "dense", "units": 128, "activation": "relu"},
       {"type": "dense", "units": 10, "activation": "softmax"}]


def make_config(layers=None, **top):
    return parse_config({"name": "t", "model": {"layers": layers or MLP},
                         "optimizer": {"name": "adam"}, "train": {"steps": 1000}, **top})


def healthy_series(layers=("L0_dense", "L1_dense")) -> dict:
    """Per (layer, metric) values of a network that learns: loss 2.3 -> 0.2."""
    series = {("", "loss"): np.linspace(2.3, 0.2, len(STEPS)), ("", "loss_nonfinite"): 0.0}
    for layer in layers:
        series.update({(layer, "kernel_norm"): 15.0, (layer, "kernel_grad_norm"): 0.5,
                       (layer, "grad_zero_frac"): 0.2, (layer, "update_ratio"): 0.01,
                       (layer, "unit_spread"): 0.3, (layer, "preact_large_frac"): 0.0,
                       (layer, "act_saturated_frac"): math.nan,
                       (layer, "dead_unit_frac"): 0.05, (layer, "act_nonfinite_frac"): 0.0})
    return series


def telemetry(series: dict, steps=STEPS, predictions=None) -> pd.DataFrame:
    rows = []
    for (layer, metric), values in series.items():
        values = np.broadcast_to(np.asarray(values, dtype=float), (len(steps),))
        rows += [(step, layer, metric, float(v)) for step, v in zip(steps, values, strict=True)]
    for step, fracs in (predictions or {}).items():
        rows += [(step, "output", f"pred_frac_{k}", f) for k, f in enumerate(fracs)]
    return pd.DataFrame(rows, columns=["step", "layer", "metric", "value"])


def metrics(accuracy=(0.1, 0.9, 0.95, 0.97), train_loss=(2.3, 0.5, 0.3, 0.2),
            test_loss=None, steps=(0, 250, 500, 1000)) -> pd.DataFrame:
    return pd.DataFrame({"epoch": [s * 32 / 60000 for s in steps], "step": steps,
                         "train_loss": train_loss, "train_accuracy": accuracy,
                         "test_loss": test_loss or train_loss, "test_accuracy": accuracy,
                         "seconds": range(len(steps)), "nan": 0})


def make_run(series=None, config=None, metrics_df=None, predictions=None, **info) -> RunData:
    run_info = {"status": "completed", "steps_completed": 1000, "first_nan_step": None, **info}
    tel = None if series is False else telemetry(series or healthy_series(), STEPS, predictions)
    return RunData(config or make_config(), metrics_df if metrics_df is not None else metrics(),
                   tel, run_info)


FAILED = metrics(accuracy=(0.1, 0.11, 0.11, 0.11), train_loss=(2.3, 2.3, 2.3, 2.3))


def with_values(**changes) -> dict:
    """healthy_series() with some (layer, metric) entries replaced; keys as 'layer__metric'."""
    series = healthy_series()
    for key, values in changes.items():
        layer, metric = key.split("__")
        series[(layer, metric)] = values
    return series


def codes(findings):
    return [finding.code for finding in findings]


def test_a_healthy_run_gets_no_dynamic_findings():
    run = make_run(predictions={0: [0.1] * 10, 1000: [0.1] * 10})
    rules = (layers.LAYER_RULES + gradients.GRADIENT_RULES + outcome.OUTCOME_RULES
             + step_size.STEP_SIZE_RULES)
    found = [f for rule in rules for f in rule(run)]
    assert found == []


# -- nan_loss ----------------------------------------------------------------------------------
def test_nan_loss_names_the_step_and_the_first_nonfinite_layer():
    run = make_run(first_nan_step=120, first_nan_epoch=0.06, first_nonfinite_layer="L1_dense")
    (finding,) = outcome.nan_loss(run)
    assert (finding.severity, finding.step, finding.layer) == ("error", 120, "L1_dense")
    assert "step 120" in finding.message and "0.001 to 0.0001" in finding.fix


def test_nan_loss_from_log_of_zero_blames_the_loss_not_a_layer():
    naive = make_config(loss="naive_log")
    (finding,) = outcome.nan_loss(make_run(config=naive, first_nan_step=7,
                                           first_nonfinite_layer="loss"))
    assert finding.layer is None and "log(0)" in finding.message
    assert "logits_crossentropy" in finding.fix


def test_nan_loss_in_clipped_crossentropy_is_a_zero_sum_not_a_log_of_zero():
    (finding,) = outcome.nan_loss(make_run(first_nan_step=7, first_nonfinite_layer="loss"))
    assert "log(0)" not in finding.message and "0/0" in finding.message


def test_nan_loss_in_mse_is_an_overflow_not_a_log_of_zero():
    mse = make_config(loss="mse")
    (finding,) = outcome.nan_loss(make_run(config=mse, first_nan_step=3,
                                           first_nonfinite_layer="loss"))
    assert "log(0)" not in finding.message and "overflowed" in finding.message
    assert "learning_rate" in finding.fix


def test_nan_loss_falls_back_to_telemetry_then_metrics():
    flags = np.where(np.asarray(STEPS) >= 300, 1.0, 0.0)
    (finding,) = outcome.nan_loss(make_run(with_values(__loss_nonfinite=flags)))
    assert finding.step == 300
    nan_metrics = metrics(train_loss=(2.3, 0.5, math.nan, math.nan))
    (finding,) = outcome.nan_loss(make_run(False, metrics_df=nan_metrics))
    assert finding.step == 500


def test_nan_loss_silent_when_everything_is_finite():
    assert outcome.nan_loss(make_run()) == []


# -- zero_gradient / symmetric_units ------------------------------------------------------------
@pytest.mark.parametrize(("zero_probes", "fires"), [(40, True), (39, False)])
def test_zero_gradient_needs_zero_at_90_percent_of_probes(zero_probes, fires):
    grads = np.full(len(STEPS), 0.5)
    grads[1:1 + zero_probes] = 0.0  # 44 probes after step 0: 40/44 = 0.91, 39/44 = 0.89
    found = layers.zero_gradient(make_run(with_values(L0_dense__kernel_grad_norm=grads)))
    assert codes(found) == (["zero_gradient"] if fires else [])
    if fires:
        assert found[0].layer == "L0_dense" and found[0].severity == "error"


@pytest.mark.parametrize(("spread", "fires"), [(0.0, True), (1e-7 * 15, True), (1e-5 * 15, False)])
def test_symmetric_units_when_spread_is_negligible_relative_to_the_weights(spread, fires):
    run = make_run(with_values(L0_dense__unit_spread=spread))
    assert codes(layers.symmetric_units(run)) == (["symmetric_units"] if fires else [])


def test_symmetric_units_counts_an_all_zero_kernel_and_tells_a_late_break_apart():
    zero = with_values(L0_dense__unit_spread=0.0, L0_dense__kernel_norm=0.0)
    assert codes(layers.symmetric_units(make_run(zero))) == ["symmetric_units"]
    broken = np.r_[np.zeros(len(STEPS) - 3), [0.01, 0.02, 0.03]]  # dropout breaks the tie late
    found = layers.symmetric_units(make_run(with_values(L0_dense__unit_spread=broken)))
    assert found[0].severity == "info" and found[0].step == STEPS[-3]


def test_symmetric_units_that_drift_apart_name_the_step_and_the_growth():
    drift = np.r_[np.zeros(10), np.geomspace(1e-4, 1.5, len(STEPS) - 10)]
    found = layers.symmetric_units(make_run(with_values(L0_dense__unit_spread=drift)))
    assert codes(found) == ["symmetric_units"] and found[0].severity == "info"
    row = found[0].evidence["layers"]["L0_dense"]
    assert found[0].step == row["broke_at_step"] == STEPS[10] == 150
    assert row["identical_until_step"] == STEPS[9]
    assert row["relative_spread_at_break"] == pytest.approx(1e-4 / 15)
    assert row["relative_spread_at_end"] == pytest.approx(0.1)
    assert "drift apart from step 150" in found[0].message


def test_symmetric_units_that_drift_in_a_failed_run_warn():
    drift = np.r_[np.zeros(10), np.full(len(STEPS) - 10, 1.5)]
    found = layers.symmetric_units(make_run(with_values(L0_dense__unit_spread=drift),
                                        metrics_df=metrics(accuracy=(0.1, 0.2, 0.2, 0.2))))
    assert found[0].severity == "warning"


def test_a_layer_stuck_identical_outranks_one_that_drifted_and_names_it():
    drift = np.r_[np.zeros(10), np.full(len(STEPS) - 10, 1.5)]
    found = layers.symmetric_units(make_run(with_values(L0_dense__unit_spread=drift,
                                                    L1_dense__unit_spread=0.0)))
    assert (found[0].severity, found[0].layer) == ("error", "L1_dense")
    assert found[0].evidence["drifted"]["L0_dense"]["broke_at_step"] == 150
    assert "L0_dense's units drifted apart from step 150" in found[0].message


def test_units_never_identical_get_no_symmetry_finding():
    never = np.geomspace(1e-3, 1.5, len(STEPS))  # a 1e-3 jitter at the start, then growing
    assert layers.symmetric_units(make_run(with_values(L0_dense__unit_spread=never))) == []


# -- dead_relu / saturated_activations ----------------------------------------------------------
@pytest.mark.parametrize(("dead", "fires"), [(0.7, True), (0.69, False)])
def test_dead_relu_at_70_percent_late_in_the_run(dead, fires):
    values = np.r_[np.full(30, 0.05), np.full(len(STEPS) - 30, dead)]
    found = layers.dead_relu(make_run(with_values(L0_dense__dead_unit_frac=values),
                                  metrics_df=FAILED))
    assert codes(found) == (["dead_relu"] if fires else [])
    if fires:
        assert found[0].severity == "error"  # the run failed, so this matters


def test_dead_relu_by_gradient_zeros_and_only_for_relu_layers():
    series = with_values(L0_dense__grad_zero_frac=0.75)
    assert codes(layers.dead_relu(make_run(series))) == ["dead_relu"]
    assert layers.dead_relu(make_run(series)).pop().severity == "info"  # it learned anyway
    tanh = make_config([{**MLP[0], "activation": "tanh"}, MLP[1]])
    assert layers.dead_relu(make_run(series, config=tanh)) == []


@pytest.mark.parametrize(("large", "fires"), [(0.51, True), (0.5, False)])
def test_saturated_activations_above_half_of_z_beyond_5(large, fires):
    sigmoid = make_config([{**MLP[0], "activation": "sigmoid"}, MLP[1]])
    run = make_run(with_values(L0_dense__preact_large_frac=large), config=sigmoid)
    assert codes(layers.saturated_activations(run)) == (["saturated_activations"] if fires else [])


def test_saturated_output_layer_and_relu_layers_are_not_flagged():
    sigmoid_out = make_config([MLP[0], {**MLP[1], "activation": "sigmoid"}], loss="mse")
    series = with_values(L1_dense__act_saturated_frac=0.95, L0_dense__preact_large_frac=0.9)
    assert layers.saturated_activations(make_run(series, config=sigmoid_out)) == []


# -- vanishing / exploding gradients ------------------------------------------------------------
# The 784x128 kernel has 78x the weights of the 128x10 one: equal per-weight gradients give
# norms sqrt(78) = 8.85x apart. The ratio rules compare per weight.
PER_WEIGHT = math.sqrt(784 * 128 / (128 * 10))


@pytest.mark.parametrize(("ratio", "fires"), [(0.99e-3, True), (1.01e-3, False)])
def test_vanishing_gradients_by_first_to_last_ratio_per_weight(ratio, fires):
    first = ratio * 0.5 * PER_WEIGHT
    run = make_run(with_values(L0_dense__kernel_grad_norm=first), metrics_df=FAILED)
    found = gradients.vanishing_gradients(run)
    assert codes(found) == (["vanishing_gradients"] if fires else [])


@pytest.mark.parametrize(("first", "code"), [(1e-12, "zero_gradient"),
                                             (1e-6, "vanishing_gradients")])
def test_a_gradient_below_float32_rounding_of_the_last_layers_counts_as_zero(first, code):
    """A softmax hidden layer's gradient is 0 in theory and ~1e-12 in float32."""
    run = make_run(with_values(L0_dense__kernel_grad_norm=first), metrics_df=FAILED)
    found = layers.zero_gradient(run) + gradients.vanishing_gradients(run)
    assert codes(found) == [code]


# A deep sigmoid net that sits at chance for its first 250 steps, then learns: its first
# layer's gradient is tiny on the plateau (probes 1..250: 9 probes) and healthy afterwards.
RECOVERED = metrics(accuracy=(0.1, 0.11, 0.9, 0.95))


@pytest.mark.parametrize(("plateau_ratio", "fires"), [(0.5e-3, True), (2e-3, False)])
def test_vanishing_gradients_on_an_opening_plateau_that_later_breaks(plateau_ratio, fires):
    gradient = np.where(np.array(STEPS) <= 250, plateau_ratio, 1.0) * 0.5 * PER_WEIGHT
    run = make_run(with_values(L0_dense__kernel_grad_norm=gradient), metrics_df=RECOVERED)
    found = gradients.vanishing_gradients(run)
    assert codes(found) == (["vanishing_gradients"] if fires else [])
    if fires:
        assert found[0].severity == "warning"  # the net recovered: a slow start, not a failure
        assert found[0].evidence["stalled_until_step"] == 250


@pytest.mark.parametrize(("plateau_end", "fires"), [(2, False), (3, True)])
def test_a_plateau_needs_three_probes_to_be_judged(plateau_end, fires):
    gradient = np.where(np.array(STEPS) <= plateau_end, 1e-5, 1.0) * 0.5 * PER_WEIGHT
    short = metrics(accuracy=(0.1, 0.11, 0.9, 0.95), steps=(0, plateau_end, 500, 1000))
    run = make_run(with_values(L0_dense__kernel_grad_norm=gradient), metrics_df=short)
    assert codes(gradients.vanishing_gradients(run)) == (["vanishing_gradients"] if fires else [])


def test_an_exactly_zero_first_layer_gradient_is_not_vanishing():
    run = make_run(with_values(L0_dense__kernel_grad_norm=0.0), metrics_df=FAILED)
    assert gradients.vanishing_gradients(run) == []
    assert codes(layers.zero_gradient(run)) == ["zero_gradient"]


@pytest.mark.parametrize(("peak", "fires"), [(500.0, True), (499.0, False)])
def test_exploding_gradients_by_growth_over_the_first_probes(peak, fires):
    grads = np.full(len(STEPS), 0.5)
    grads[-5:] = peak  # 1000x and 998x the starting 0.5
    found = gradients.exploding_gradients(make_run(with_values(L1_dense__kernel_grad_norm=grads)))
    assert codes(found) == (["exploding_gradients"] if fires else [])


def test_exploding_gradients_by_ratio_only_counts_in_a_run_that_failed():
    lopsided = with_values(L0_dense__kernel_grad_norm=0.5 * 71 * PER_WEIGHT)
    assert codes(gradients.exploding_gradients(make_run(lopsided, metrics_df=FAILED))) == [
        "exploding_gradients"]
    assert gradients.exploding_gradients(make_run(lopsided)) == []  # learned to 97%
    balanced = with_values(L0_dense__kernel_grad_norm=0.5 * 69 * PER_WEIGHT)
    assert gradients.exploding_gradients(make_run(balanced, metrics_df=FAILED)) == []


# -- learning rate --------------------------------------------------------------------------------
OVERFLOWED = {"first_nan_step": 500, "first_nonfinite_layer": "L1_dense"}


@pytest.mark.parametrize(("ratio", "fires"), [(0.11, True), (0.1, False)])
def test_learning_rate_too_high_above_the_update_band(ratio, fires):
    run = make_run(with_values(L1_dense__update_ratio=ratio), metrics_df=FAILED, **OVERFLOWED)
    found = step_size.learning_rate_too_high(run)
    assert codes(found) == (["learning_rate_too_high"] if fires else [])
    if fires:
        assert found[0].layer == "L1_dense" and "0.001 to 0.0001" in found[0].fix
        assert found[0].evidence["overshoot_signs"] == ["nan_loss"]


def test_big_update_ratios_without_overshoot_are_not_a_learning_rate_problem():
    """Zero-initialised weights make |dW|/|W| large while the loss just sits at ln 10; and a
    log(0) in the loss is the loss's fault, not the step size's."""
    big = with_values(L1_dense__update_ratio=0.3)
    assert step_size.learning_rate_too_high(make_run(big, metrics_df=FAILED)) == []
    log_zero = {"first_nan_step": 500, "first_nonfinite_layer": "loss"}
    assert step_size.learning_rate_too_high(make_run(big, metrics_df=FAILED, **log_zero)) == []


@pytest.mark.parametrize(("spread", "fires"), [(0.3, True), (0.0, False)])
def test_relus_dying_together_in_a_symmetric_layer_are_not_overshoot(spread, fires):
    """Dead ReLUs with big updates point at the learning rate, unless the layer's units are
    identical (constant init): then they all take the same step and die together."""
    series = with_values(L0_dense__update_ratio=0.3, L0_dense__dead_unit_frac=1.0,
                         L0_dense__grad_zero_frac=1.0, L0_dense__unit_spread=spread)
    found = step_size.learning_rate_too_high(make_run(series, metrics_df=FAILED))
    assert codes(found) == (["learning_rate_too_high"] if fires else [])


@pytest.mark.parametrize(("ratio", "fires"), [(0.9e-4, True), (1e-4, False)])
def test_learning_rate_too_low_when_every_layer_moves_too_little(ratio, fires):
    series = with_values(L0_dense__update_ratio=ratio, L1_dense__update_ratio=ratio * 0.5)
    found = step_size.learning_rate_too_low(make_run(series, metrics_df=FAILED))
    assert codes(found) == (["learning_rate_too_low"] if fires else [])


@pytest.mark.parametrize(("ratio", "fires"), [(0.99e-4 * 10, True), (1.01e-4 * 10, False)])
def test_learning_rate_too_low_when_the_whole_run_cannot_move_the_weights_10_percent(ratio, fires):
    """1e-3 per step is healthy, but 100 such steps move the weights at most 10%."""
    series = with_values(L0_dense__update_ratio=ratio, L1_dense__update_ratio=ratio / 2)
    found = step_size.learning_rate_too_low(make_run(series, metrics_df=FAILED,
                                                     steps_completed=100))
    assert codes(found) == (["learning_rate_too_low"] if fires else [])
    if fires:
        assert "0.001 to 0.01" in found[0].fix and "100 steps" in found[0].message


def test_tiny_updates_of_saturated_units_are_not_a_too_low_learning_rate():
    sigmoid = make_config([{**MLP[0], "activation": "sigmoid"}, MLP[1]])
    tiny = {"L0_dense__update_ratio": 1e-6, "L1_dense__update_ratio": 1e-6}
    saturated = with_values(**tiny, L0_dense__preact_large_frac=0.9)
    assert step_size.learning_rate_too_low(make_run(saturated, config=sigmoid,
                                                    metrics_df=FAILED)) == []
    unsaturated = make_run(with_values(**tiny), config=sigmoid, metrics_df=FAILED)
    assert codes(step_size.learning_rate_too_low(unsaturated)) == ["learning_rate_too_low"]


def test_learning_rate_rules_ignore_runs_that_learned_and_zero_gradient_layers():
    assert step_size.learning_rate_too_high(make_run(with_values(L1_dense__update_ratio=0.5))) == []
    assert step_size.learning_rate_too_low(make_run(with_values(L0_dense__update_ratio=1e-6,
                                                         L1_dense__update_ratio=1e-6))) == []
    zero_first = with_values(L0_dense__kernel_grad_norm=0.0, L0_dense__update_ratio=1e-9)
    assert step_size.learning_rate_too_low(make_run(zero_first, metrics_df=FAILED)) == []
    nan_only = with_values(L0_dense__update_ratio=math.nan, L1_dense__update_ratio=math.nan)
    assert step_size.learning_rate_too_low(make_run(nan_only, metrics_df=FAILED)) == []


# -- the loss and the accuracy (rules_outcome) -------------------------------------------------
@pytest.mark.parametrize(("accuracy", "fires"), [(0.1335, True), (0.1336, False)])
def test_stuck_at_chance_at_the_majority_class_rate(accuracy, fires):
    stuck = metrics(accuracy=(0.1, accuracy, 0.11, 0.1135), train_loss=(2.30, 2.30, 2.30, 2.30),
                    test_loss=(2.302, 2.302, 2.301, 2.302))
    found = outcome.stuck_at_chance(make_run(False, metrics_df=stuck))
    assert codes(found) == (["stuck_at_chance"] if fires else [])
    if fires:
        assert found[0].evidence["loss_at_uniform_guess"] is True
        assert "2.302" in found[0].message and "0.1135" in found[0].message


def test_stuck_at_chance_with_a_nan_loss_and_not_in_a_short_run():
    nan = metrics(accuracy=(0.1, 0.098, 0.098, 0.098), train_loss=(2.3,) + (math.nan,) * 3)
    (finding,) = outcome.stuck_at_chance(make_run(False, metrics_df=nan))
    assert finding.evidence["loss_at_uniform_guess"] is False and "nan" in finding.message
    short = metrics(accuracy=(0.1, 0.11), train_loss=(2.3, 2.3), steps=(0, 40))
    assert outcome.stuck_at_chance(make_run(False, metrics_df=short, steps_completed=40)) == []


@pytest.mark.parametrize(("final", "fires"), [(2.30 * 0.951, True), (2.30 * 0.949, False)])
def test_loss_not_decreasing_needs_a_5_percent_drop(final, fires):
    flat = metrics(train_loss=(2.30, final, final, final))
    found = outcome.loss_not_decreasing(make_run(False, metrics_df=flat))
    assert codes(found) == (["loss_not_decreasing"] if fires else [])


def test_loss_not_decreasing_reads_the_probe_loss_when_recorded():
    flat = with_values(__loss=np.full(len(STEPS), 2.302))
    assert codes(outcome.loss_not_decreasing(make_run(flat))) == ["loss_not_decreasing"]


@pytest.mark.parametrize(("late", "fires"), [(2.30 * 1.51, True), (2.30 * 1.49, False)])
def test_diverging_loss_when_the_late_loss_exceeds_1_5x_the_start(late, fires):
    rising = metrics(train_loss=(2.30, 2.5, late, late))
    found = outcome.diverging_loss(make_run(False, metrics_df=rising))
    assert codes(found) == (["diverging_loss"] if fires else [])
    if fires:  # a rising loss is reported once, as diverging
        assert outcome.loss_not_decreasing(make_run(False, metrics_df=rising)) == []


def test_diverging_loss_that_ends_in_nan():
    blown = metrics(train_loss=(2.30, 9.0, math.nan, math.nan))
    (finding,) = outcome.diverging_loss(make_run(False, metrics_df=blown))
    assert finding.evidence["ends_nonfinite"] is True and finding.step == 250


def _zigzag(low, high):
    half = len(STEPS) // 2
    return np.r_[np.linspace(2.3, low, half), [low, high] * ((len(STEPS) - half) // 2),
                 [low] * ((len(STEPS) - half) % 2)]


@pytest.mark.parametrize(("low", "high", "fires"),
                         [(1.5, 3.5, True), (1.8, 2.4, False), (0.1, 0.3, False)])
def test_oscillating_loss_swings_widely_and_stays_high(low, high, fires):
    # (1.8, 2.4): relative std 14% < 25%; (0.1, 0.3): swings, but well below half the start
    found = outcome.oscillating_loss(make_run(with_values(__loss=_zigzag(low, high)),
                                         metrics_df=FAILED))
    assert codes(found) == (["oscillating_loss"] if fires else [])


def test_smooth_loss_is_not_oscillating():
    assert outcome.oscillating_loss(make_run(with_values(__loss=np.full(len(STEPS), 2.3)))) == []


@pytest.mark.parametrize(("top", "fires"), [(0.9, True), (0.89, False)])
def test_output_collapse_at_the_last_evaluation(top, fires):
    fracs = [top] + [(1 - top) / 9] * 9
    run = make_run(predictions={0: [0.1] * 10, 1000: fracs})
    found = outcome.output_collapse(run)
    assert codes(found) == (["output_collapse"] if fires else [])
    if fires:
        assert found[0].evidence["class"] == 0 and found[0].step == 1000


def test_output_collapse_ignores_the_untrained_model_at_step_0():
    assert outcome.output_collapse(make_run(predictions={0: [1.0] + [0.0] * 9})) == []
