"""Learning-rate rules: the recorded update sizes |dW|/|W| weighed against what the loss did.
"""

from __future__ import annotations

from mnist_doctor.doctor.evidence import (
    RunData,
    first_nonfinite_step,
    lr_fix,
    median_update_ratios,
    outcome_severity,
    steps_done,
)
from mnist_doctor.doctor.findings import Finding
from mnist_doctor.doctor.rules.layers import dead_relu, saturated_activations, symmetric_units
from mnist_doctor.doctor.rules.outcome import diverging_loss, oscillating_loss

# TheDeepChecker (Ben Braiek & Khomh): healthy log10(|dW|/|W|) lies in [-4, -1].
UPDATE_RATIO_LOW = 1e-4
UPDATE_RATIO_HIGH = 1e-1
# Ours: if even summing every step's |dW|/|W| the weights move < 10% over the whole run, the
# learning rate is too low for the step budget (TheDeepChecker's band judges single steps).
MIN_TOTAL_MOVEMENT = 0.1


# -- the learning rate: update sizes, judged by what the loss did ----------------------------
def _update_ratio_finding(run: RunData, code: str, layer: str, medians: dict, story: str,
                          extra: dict) -> Finding:
    too_high = code == "learning_rate_too_high"
    return Finding(
        code, outcome_severity(run), layer=layer,
        evidence={"median_update_ratio": medians, "healthy_band": [UPDATE_RATIO_LOW,
                                                                   UPDATE_RATIO_HIGH],
                  "learning_rate": run.config.optimizer.learning_rate, **extra},
        message=(f"Each step changes layer {layer}'s weights by a median {medians[layer]:.2g} "
                 f"times their size (healthy: {UPDATE_RATIO_LOW:g} to {UPDATE_RATIO_HIGH:g}). "
                 + story),
        fix=lr_fix(run, 0.1) if too_high else lr_fix(run, 10) + " Or train for more steps.")


def _overshoot_signs(run: RunData) -> list[str]:
    """What too-big steps do: overflow a layer, push the loss up or make it swing, kill relus.
    A flat loss is not one: tiny weights (zero init) also give big update ratios. Nor are
    ReLUs that die together because their weights are identical: that is the init's fault."""
    signs = [rule.__name__ for rule in (diverging_loss, oscillating_loss) if rule(run)]
    if dead_relu(run) and not symmetric_units(run):
        signs.append("dead_relu")
    nan_layer = run.run_info.get("first_nonfinite_layer")
    if nan_layer != "loss" and (run.run_info.get("first_nan_step") is not None
                                or first_nonfinite_step(run) is not None):
        signs.append("nan_loss")  # log(0) in the loss is a loss problem, not step size
    return signs


def learning_rate_too_high(run: RunData) -> list[Finding]:
    """Some layer's weights change by more than 10% per step and the run shows overshoot."""
    medians = median_update_ratios(run)
    if not medians or outcome_severity(run) == "info":
        return []
    layer = max(medians, key=medians.get)
    signs = _overshoot_signs(run) if medians[layer] > UPDATE_RATIO_HIGH else []
    if not signs:
        return []
    story = f"Steps this big jump over the minimum; the run shows {', '.join(signs)}."
    return [_update_ratio_finding(run, "learning_rate_too_high", layer, medians, story,
                                  {"overshoot_signs": signs})]


def learning_rate_too_low(run: RunData) -> list[Finding]:
    """Even the fastest-moving layer crawls: below 1e-4 per step, or too little in total for
    the run's step budget. One slow layer among fast ones is vanishing_gradients instead.
    Not when units are saturated: their flat activations make every update tiny whatever the
    step (a too-large step is what often saturates them), so tiny updates say nothing about
    the step then; saturated_activations names the mechanism instead."""
    medians = median_update_ratios(run)
    if not medians or outcome_severity(run) == "info" or saturated_activations(run):
        return []
    layer = max(medians, key=medians.get)
    steps = max(steps_done(run), 1)
    movement = medians[layer] * steps  # the most the weights can move if every step agrees
    if medians[layer] >= UPDATE_RATIO_LOW and movement >= MIN_TOTAL_MOVEMENT:
        return []
    story = (f"Over all {steps} steps that adds up to at most {movement:.2g} of their size: "
             "too little for the weights to get anywhere.")
    return [_update_ratio_finding(run, "learning_rate_too_low", layer, medians, story,
                                  {"steps": steps, "max_total_movement": movement,
                                   "min_total_movement": MIN_TOTAL_MOVEMENT})]


STEP_SIZE_RULES = (learning_rate_too_high, learning_rate_too_low)
