"""Outcome rules: what the loss and the accuracy show, from metrics.csv and run.json alone
(plus the probe loss and prediction histogram when telemetry was recorded).

These are the symptoms a user sees; each rule returns a list of findings, one per code at most.
They run even for a run trained with --no-doctor. The causes behind them are found by the
static rules and by the per-layer and gradient rules.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mnist_doctor.doctor.evidence import (
    CHANCE_MARGIN,
    MIN_STEPS_TO_JUDGE,
    RunData,
    best_accuracy,
    chance_accuracy,
    first_nonfinite_step,
    late,
    loss_curve,
    lr_fix,
    metric_table,
    model_series,
    outcome_severity,
    steps_done,
)
from mnist_doctor.doctor.findings import Finding

# ln(10) = 2.303 is the cross-entropy of a uniform guess over 10 classes (TheDeepChecker's
# expected initial loss -ln(1/C)); for mse the uniform guess 0.1 scores (0.9^2 + 9*0.1^2)/10.
UNIFORM_GUESS_LOSS = {"mse": 0.09}
NEAR_UNIFORM_REL = 0.045  # +-0.1 around ln 10
# DeepDiagnosis "loss not changing": we ask for at least a 5% relative drop.
MIN_LOSS_DROP = 0.05
# Ours: a late loss 1.5x above the starting loss means training made the model worse.
DIVERGENCE_RATIO = 1.5
# AUTOTRAINER's oscillating loss: a late loss that swings widely (relative std >= 25%) and
# changes direction at most probes, while it stays above half of its starting value.
OSCILLATION_REL_STD = 0.25
OSCILLATION_SIGN_CHANGES = 0.5
OSCILLATION_MIN_LEVEL = 0.5


# Ours: 90% of test predictions in one class means the model answers the same for any image.
COLLAPSE_FRAC = 0.9


SYMPTOM_FIX = ("This is a symptom: fix the findings listed above it; if there are none, check "
               "the activations, the initial weights and the learning rate.")


def _first_nonfinite_layer(run: RunData, step: int) -> str | None:
    table = metric_table(run, "act_nonfinite_frac")
    if step not in table.index:
        return None
    row = table.loc[step]
    return next((layer for layer, value in row.items() if value > 0), None)


def _overflow_fix(run: RunData) -> str:
    fix = lr_fix(run, 0.1)
    if not run.config.data.normalize:
        fix = "Set data.normalize: true; if it persists, " + fix[0].lower() + fix[1:]
    return fix


def _nan_story(run: RunData, step: int, where: str | None) -> tuple[str, str]:
    """(what happened, the fix) for the place the numbers first went non-finite."""
    if where == "loss" and run.config.loss == "crossentropy":
        # crossentropy clips to [1e-7, 1 - 1e-7] (Keras 2), so it never takes log(0): only its
        # renormalisation p / sum(p) can fail, on outputs that sum to 0 or to inf.
        return (f"At step {step} the loss became nan/inf while every layer's output was still "
                "finite: crossentropy divides the outputs by their sum, and they summed to 0 "
                "(or overflowed), so the 'probabilities' were 0/0.",
                "Use a softmax last layer, or a linear one with loss: logits_crossentropy.")
    if where == "loss" and run.config.loss == "naive_log":
        return (f"At step {step} the loss became nan/inf while every layer's output was still "
                "finite: the loss took log(0), because the model gave the true digit a "
                "probability of exactly 0 (softmax underflows to 0 in float32).",
                "Use a linear last layer with loss: logits_crossentropy, which never takes "
                "log(0) (or set loss_epsilon: 1e-7).")
    if where == "loss":
        return (f"At step {step} the loss became nan/inf while every layer's output was still "
                f"finite: the outputs were so large that the {run.config.loss} loss itself "
                "overflowed float32. From then on every weight update is nan.",
                _overflow_fix(run))
    place = f"the output of layer {where}" if where else "the training loss"
    return (f"At step {step} {place} became nan/inf: values grew until they overflowed "
            "float32, and from then on every weight update is nan, so training is over.",
            _overflow_fix(run))


def nan_loss(run: RunData) -> list[Finding]:
    """Where the numbers first left float32: the layer that overflowed, or the loss itself
    (DeepLocalize's first non-finite layer)."""
    info = run.run_info
    step = info.get("first_nan_step")
    step = first_nonfinite_step(run) if step is None else int(step)
    if step is None:
        return []
    where = info.get("first_nonfinite_layer") or _first_nonfinite_layer(run, step)
    message, fix = _nan_story(run, step, where)
    return [Finding(
        "nan_loss", "error", layer=where if where not in (None, "loss") else None, step=step,
        evidence={"first_nan_step": step, "first_nan_epoch": info.get("first_nan_epoch"),
                  "first_nonfinite_layer": where, "status": info.get("status"),
                  "loss": run.config.loss},
        message=message, fix=fix)]


def uniform_guess_loss(run: RunData) -> float:
    return UNIFORM_GUESS_LOSS.get(run.config.loss,
                                  math.log(run.run_info.get("classes") or 10))


def stuck_at_chance(run: RunData) -> list[Finding]:
    """Accuracy no better than always answering '1': the network learned nothing usable."""
    accuracy = best_accuracy(run)
    chance = chance_accuracy(run)
    limit = chance + CHANCE_MARGIN
    if accuracy is None or accuracy > limit or steps_done(run) < MIN_STEPS_TO_JUDGE:
        return []
    trained = run.metrics[run.metrics["step"] > 0]
    loss = float(trained["test_loss"].iloc[-1]) if len(trained) else math.nan
    uniform = uniform_guess_loss(run)
    near = math.isfinite(loss) and abs(loss - uniform) <= NEAR_UNIFORM_REL * uniform
    if near:
        how = (f"and its loss stays at {loss:.3f}, the loss of guessing 1/10 for every digit "
               f"({uniform:.3f}): it gives the same answer whatever the image")
    else:
        how = f"with a test loss of {loss:.4g}"
    return [Finding(
        "stuck_at_chance", "error", step=int(trained["step"].iloc[0]) if len(trained) else None,
        evidence={"best_test_accuracy": accuracy, "chance_accuracy": chance,
                  "threshold": limit, "test_loss": loss, "uniform_guess_loss": uniform,
                  "loss_at_uniform_guess": near},
        message=(f"The best test accuracy is {accuracy:.4f}, no better than always answering "
                 f"the most common class ({chance:.4g}), {how}."),
        fix=SYMPTOM_FIX)]


def _loss_trend(run: RunData) -> tuple[float, pd.Series, pd.Series] | None:
    """(starting loss, finite losses after it, last third of them), or None if unusable."""
    curve = loss_curve(run)
    if len(curve) < 2 or not math.isfinite(curve.iloc[0]) or curve.iloc[0] <= 0:
        return None
    later = curve.iloc[1:]
    finite = later[np.isfinite(later)]
    return float(curve.iloc[0]), finite, late(finite) if len(finite) else finite


def loss_not_decreasing(run: RunData) -> list[Finding]:
    """The loss ends where it started: no learning signal reaches the weights."""
    trend = _loss_trend(run)
    if trend is None or not len(trend[2]) or steps_done(run) < MIN_STEPS_TO_JUDGE:
        return []
    initial, _, tail = trend
    final = float(tail.median())
    if final < initial * (1 - MIN_LOSS_DROP) or final > initial * DIVERGENCE_RATIO:
        return []
    return [Finding(
        "loss_not_decreasing", "error", step=int(tail.index[0]),
        evidence={"initial_loss": initial, "late_median_loss": final,
                  "relative_drop": 1 - final / initial, "required_drop": MIN_LOSS_DROP},
        message=(f"The loss started at {initial:.4g} and is still {final:.4g} in the last third "
                 f"of training (a {100 * (1 - final / initial):.1f}% drop, under "
                 f"{100 * MIN_LOSS_DROP:.0f}%): the weight updates are not reducing the error."),
        fix=SYMPTOM_FIX)]


def diverging_loss(run: RunData) -> list[Finding]:
    """Training makes the model worse: the loss climbs far above where it started."""
    trend = _loss_trend(run)
    if trend is None or not len(trend[1]):
        return []
    initial, finite, tail = trend
    curve = loss_curve(run)
    went_nonfinite = not math.isfinite(curve.iloc[-1])
    limit = initial * DIVERGENCE_RATIO
    if not (tail.median() > limit or (went_nonfinite and finite.max() > limit)):
        return []
    return [Finding(
        "diverging_loss", "error", step=int(finite[finite > limit].index[0]),
        evidence={"initial_loss": initial, "peak_loss": float(finite.max()),
                  "late_median_loss": float(tail.median()), "ratio_threshold": DIVERGENCE_RATIO,
                  "ends_nonfinite": went_nonfinite},
        message=(f"The loss rose from {initial:.4g} to as high as {finite.max():.4g}: each "
                 "update overshoots the minimum and lands somewhere worse."),
        fix=lr_fix(run, 0.1))]


def _sign_change_frac(values: pd.Series) -> float:
    signs = np.sign(np.diff(values.to_numpy()))
    signs = signs[signs != 0]
    return float(np.mean(signs[1:] != signs[:-1])) if len(signs) > 1 else 0.0


def oscillating_loss(run: RunData) -> list[Finding]:
    """The loss jumps up and down late in training without coming down: steps too big."""
    trend = _loss_trend(run)
    if trend is None or len(trend[1]) < 6:
        return []
    initial, finite = trend[0], trend[1]
    window = finite.iloc[len(finite) // 2:]
    mean = float(window.mean())
    rel_std = float(window.std()) / mean if mean > 0 else 0.0
    changes = _sign_change_frac(window)
    if rel_std < OSCILLATION_REL_STD or changes < OSCILLATION_SIGN_CHANGES \
            or window.median() < OSCILLATION_MIN_LEVEL * initial:
        return []
    return [Finding(
        "oscillating_loss", outcome_severity(run), step=int(window.index[0]),
        evidence={"relative_std": rel_std, "sign_change_frac": changes, "window_mean": mean,
                  "initial_loss": initial, "thresholds": [OSCILLATION_REL_STD,
                                                          OSCILLATION_SIGN_CHANGES]},
        message=(f"In the second half of training the loss swings up and down (spread "
                 f"{100 * rel_std:.0f}% of its mean {mean:.3g}, direction changes at "
                 f"{100 * changes:.0f}% of checks) and stays near its start of {initial:.3g}."),
        fix=lr_fix(run, 0.1))]


def output_collapse(run: RunData) -> list[Finding]:
    """Nearly every test image gets the same answer at the last evaluation."""
    fracs = {k: model_series(run, f"pred_frac_{k}", "output") for k in range(10)}
    table = pd.DataFrame(fracs).dropna(how="all")
    table = table[table.index > 0]
    if table.empty:
        return []
    step, last = int(table.index[-1]), table.iloc[-1]
    top = int(last.idxmax())
    if last[top] < COLLAPSE_FRAC:
        return []
    return [Finding(
        "output_collapse", "error", layer="output", step=step,
        evidence={"class": top, "pred_frac": float(last[top]), "threshold": COLLAPSE_FRAC},
        message=(f"At the last evaluation (step {step}) the model answers '{top}' for "
                 f"{100 * last[top]:.1f}% of the test images: it ignores the input."),
        fix=SYMPTOM_FIX)]


OUTCOME_RULES = (nan_loss, diverging_loss, oscillating_loss, output_collapse, stuck_at_chance,
                 loss_not_decreasing)
