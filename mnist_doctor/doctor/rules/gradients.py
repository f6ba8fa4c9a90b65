"""Gradient-flow rules: gradients that fade (vanishing) or blow up (exploding) across the
network's depth or over the run, from the per-layer gradient norms of telemetry.csv.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mnist_doctor.doctor.evidence import (
    CHANCE_MARGIN,
    RunData,
    _finite,
    chance_accuracy,
    kernel_sizes,
    lr_fix,
    metric_table,
    outcome_severity,
    zero_gradient_layers,
)
from mnist_doctor.doctor.findings import Finding
from mnist_doctor.vocabulary import MNIST_CHANCE_ACCURACY

# AUTOTRAINER (Zhang et al., ICSE'21): vanishing when ||grad W_first|| / ||grad W_last|| < 1e-3.
VANISHING_RATIO = 1e-3


# An opening plateau is judged on its own when at least this many probes fall inside it, and a
# test accuracy within 2 points of the majority-class rate 0.1135 counts as "at chance".
MIN_PLATEAU_PROBES = 3


STALLED_ACCURACY = MNIST_CHANCE_ACCURACY + CHANCE_MARGIN
# AUTOTRAINER: exploding when the same first/last ratio exceeds 70.
EXPLODING_RATIO = 70.0
# Ours: no healthy run's layer gradient norm grows 1000x above its first probes.
EXPLODING_GROWTH = 1e3


def _first_last_ratio(run: RunData) -> tuple[str, str, pd.Series] | None:
    """AUTOTRAINER's first-to-last gradient ratio at each probe after step 0, per weight
    (norm / sqrt(#weights)): a 784x200 kernel's norm sums 500x more entries than a 30x10 one."""
    grads, sizes = metric_table(run, "kernel_grad_norm"), kernel_sizes(run)
    if grads.shape[1] < 2:
        return None
    first, last = grads.columns[0], grads.columns[-1]
    pair = grads[grads.index > 0] if (grads.index > 0).any() else grads
    pair = pair[np.isfinite(pair[first]) & np.isfinite(pair[last]) & (pair[last] > 0)]
    scale = math.sqrt(sizes.get(last, 1) / sizes.get(first, 1))
    return first, last, pair[first] / pair[last] * scale


def stalled_until(run: RunData) -> int | None:
    """The last evaluation step of an opening plateau at chance accuracy, or None when the
    run did not start with one. A plateau that later breaks still shows what held it."""
    rows = run.metrics[run.metrics["step"] > 0]
    stalled = STALLED_ACCURACY - MNIST_CHANCE_ACCURACY + chance_accuracy(run)
    at_chance = (rows["test_accuracy"] <= stalled).astype(bool)
    if not len(rows) or not at_chance.iloc[0]:
        return None
    opening = at_chance.cumprod().astype(bool)
    return int(rows["step"][opening].iloc[-1])


def _vanishing_phase(ratio: pd.Series, run: RunData) -> tuple[pd.Series, int | None]:
    """The probes to judge: the whole run, or just its opening plateau when only that
    phase shows gradients vanishing (the net recovered later, as deep sigmoid nets do)."""
    if ratio.median() < VANISHING_RATIO:
        return ratio, None
    until = stalled_until(run)
    plateau = ratio[ratio.index <= until] if until is not None else ratio.iloc[:0]
    if len(plateau) >= MIN_PLATEAU_PROBES and plateau.median() < VANISHING_RATIO:
        return plateau, until
    return ratio.iloc[:0], None


def vanishing_gradients(run: RunData) -> list[Finding]:
    """The first layer gets a gradient 1000x weaker than the last: it barely learns. An
    exactly-zero gradient is a different problem (zero_gradient)."""
    found = _first_last_ratio(run)
    if found is None or found[0] in zero_gradient_layers(run):
        return []
    first, last, ratio = found
    ratio, plateau_end = _vanishing_phase(ratio[ratio > 0], run)
    if not len(ratio):
        return []
    when = (f", while accuracy sat at chance (until step {plateau_end})," if plateau_end
            else " typically")
    return [Finding(
        "vanishing_gradients", "warning" if plateau_end else outcome_severity(run),
        layer=first, step=int(ratio[ratio < VANISHING_RATIO].index[0]),
        evidence={"median_first_last_ratio": float(ratio.median()), "first_layer": first,
                  "last_layer": last, "threshold": VANISHING_RATIO,
                  "stalled_until_step": plateau_end},
        message=(f"Per weight, the gradient reaching the first layer {first} is{when} "
                 f"{ratio.median():.2g} times the one at the last layer {last}: it shrinks on "
                 "the way back, so the early layers hardly learn."),
        fix="Use relu with he_normal init instead of sigmoid/tanh, or Adam, or fewer layers.")]


def _gradient_growth(run: RunData) -> dict[str, float]:
    """Peak kernel-gradient norm over its first probes' median, per layer."""
    grads, growth = metric_table(run, "kernel_grad_norm"), {}
    for layer in grads.columns:
        values = _finite(grads[layer].dropna())
        early = values.iloc[:5]
        if len(values) and values.iloc[0] > 0 and early.median() > 0:
            growth[layer] = float(values.max() / early.median())
    return growth


def exploding_gradients(run: RunData) -> list[Finding]:
    """Gradients that grow by orders of magnitude (or dwarf the last layer's in a run that
    fails) make each update overshoot."""
    growth, severity = _gradient_growth(run), outcome_severity(run)
    grown = {layer: g for layer, g in growth.items() if g >= EXPLODING_GROWTH}
    found = _first_last_ratio(run)
    ratio = float(found[2].median()) if found and len(found[2]) else math.nan
    lopsided = ratio > EXPLODING_RATIO and severity != "info"
    if not grown and not lopsided:
        return []
    layer = next(iter(grown), found[0] if found else None)
    what = (f"grew to {grown[layer]:.3g} times its starting size" if grown else
            f"is typically {ratio:.3g} times the last layer's, per weight")
    step = (int(found[2][found[2] > EXPLODING_RATIO].index[0]) if not grown else
            int(metric_table(run, "kernel_grad_norm")[layer].idxmax()))
    return [Finding(
        "exploding_gradients", severity, layer=layer, step=step,
        evidence={"growth": growth, "growth_threshold": EXPLODING_GROWTH,
                  "median_first_last_ratio": ratio, "ratio_threshold": EXPLODING_RATIO},
        message=(f"The gradient of layer {layer} {what}: updates this large overshoot and "
                 "push the weights toward overflow."),
        fix=lr_fix(run, 0.1) + " Normalised inputs and he_normal init also keep it small.")]


GRADIENT_RULES = (vanishing_gradients, exploding_gradients)
