"""Dynamic rules: what the per-layer telemetry shows went wrong inside the network.

Each rule takes a `RunData` (the files of one run folder, already read) and returns a list of
findings, one per code at most; without telemetry they return nothing (the loss and accuracy
rules live in `rules_outcome`). This module also owns reading telemetry.csv's long form into
step x layer tables. Mechanism findings (dead units,
saturation, update sizes) are errors only when the run failed to learn, warnings when it
under-performed, and info when it learned anyway: the same number means less in a run at 98%.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from mnist_doctor.config import ExperimentConfig, Layer
from mnist_doctor.findings import Finding
from mnist_doctor.rules_static import fan_ins

# AUTOTRAINER (Zhang et al., ICSE'21): vanishing when ||grad W_first|| / ||grad W_last|| < 1e-3.
VANISHING_RATIO = 1e-3
# An opening plateau is judged on its own when at least this many probes fall inside it, and a
# test accuracy within 2 points of the majority-class rate 0.1135 counts as "at chance".
MIN_PLATEAU_PROBES = 3
STALLED_ACCURACY = 0.1135 + 0.02
# AUTOTRAINER: exploding when the same first/last ratio exceeds 70.
EXPLODING_RATIO = 70.0
# Ours: no healthy run's layer gradient norm grows 1000x above its first probes.
EXPLODING_GROWTH = 1e3
# AUTOTRAINER: dying ReLU when >= 70% of a layer's gradient entries are exactly 0.
DEAD_RELU_FRAC = 0.7
# DeepDiagnosis (Wardat et al., ICSE'22): saturated when > 50% of |z| >= 5.
SATURATED_FRAC = 0.5
# unit_spread / kernel_norm below this means float32 copies of one unit.
SYMMETRY_REL_TOL = 1e-6
# float32 machine epsilon: a gradient this much smaller than another is rounding noise.
FLOAT32_EPS = 1.2e-7
# Share of probes (after step 0) that must show the pattern; tolerates one odd probe.
PERSISTENT_FRAC = 0.9
# Best test accuracy below which a run failed / under-performed (a linear model reaches 0.92).
FAILED_ACCURACY = 0.5
GOOD_ACCURACY = 0.9


@dataclass(frozen=True)
class RunData:
    """One run's recorded files, read: the resolved config, metrics, telemetry, run.json."""

    config: ExperimentConfig
    metrics: pd.DataFrame
    telemetry: pd.DataFrame | None
    run_info: dict

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        """telemetry.csv's long form pivoted once: one step x layer table per metric."""
        tel = self.telemetry
        if tel is None or tel.empty:
            return {}
        rows = tel.drop_duplicates(["step", "layer", "metric"])  # a replayed batch repeats
        return {metric: group.pivot(index="step", columns="layer", values="value").sort_index()
                for metric, group in rows.groupby("metric")}


def _layer_index(name: str) -> int:
    match = re.match(r"L(\d+)_", str(name))
    return int(match.group(1)) if match else 10**6


def metric_table(run: RunData, metric: str) -> pd.DataFrame:
    """A step x layer table of one per-layer metric, layers in forward order."""
    table = run.tables.get(metric, pd.DataFrame())
    return table[sorted((c for c in table.columns if _layer_index(c) < 10**6), key=_layer_index)]


def model_series(run: RunData, metric: str, layer: str = "") -> pd.Series:
    """A whole-model (layer '') or output metric by step."""
    table = run.tables.get(metric, pd.DataFrame())
    return table[layer].dropna() if layer in table else pd.Series(dtype=float)


def _config_indices(run: RunData) -> dict[str, int]:
    """Telemetry layer name -> index in config.layers: by name when they agree, else by order."""
    names = list(metric_table(run, "kernel_norm").columns)
    layers = run.config.layers
    by_name = {name: _layer_index(name) for name in names if _layer_index(name) < len(layers)
               and name.endswith("_" + layers[_layer_index(name)].type)}
    if len(by_name) == len(names):
        return by_name
    trainable = [index for index, layer in enumerate(layers) if layer.trainable]
    return dict(zip(names, trainable, strict=False))


def layer_specs(run: RunData) -> dict[str, Layer]:
    """Telemetry layer name -> its config layer (activation, units)."""
    return {name: run.config.layers[i] for name, i in _config_indices(run).items()}


def kernel_sizes(run: RunData) -> dict[str, int]:
    """Number of kernel weights per layer: fan_in x units (or filters)."""
    fans = fan_ins(run.config)
    return {name: fans[i] * (run.config.layers[i].units or run.config.layers[i].filters)
            for name, i in _config_indices(run).items()}


def late(values: pd.Series) -> pd.Series:
    """The last third of a series: the state the run ended in."""
    return values.iloc[-max(1, math.ceil(len(values) / 3)):]


def _after_start(values: pd.Series) -> pd.Series:
    later = values[values.index > 0]
    return later if len(later) else values


def best_accuracy(run: RunData) -> float | None:
    trained = run.metrics[run.metrics["step"] > 0]["test_accuracy"].dropna()
    if len(trained):
        return float(trained.max())
    return (run.run_info.get("final") or {}).get("best_test_accuracy")


def outcome_severity(run: RunData) -> str:
    """error if the run failed to learn, warning if it under-performed, info if it learned."""
    accuracy = best_accuracy(run)
    if run.run_info.get("first_nan_step") is not None or (
            accuracy is not None and accuracy < FAILED_ACCURACY):
        return "error"
    return "warning" if accuracy is None or accuracy < GOOD_ACCURACY else "info"


def lr_fix(run: RunData, factor: float) -> str:
    rate = run.config.optimizer.learning_rate
    verb = "Lower" if factor < 1 else "Raise"
    return f"{verb} optimizer.learning_rate {max(factor, 1 / factor):g}x, from {rate:g} to " \
           f"{rate * factor:g}."



# -- gradients and layers --------------------------------------------------------------------
def _finite(values: pd.Series) -> pd.Series:
    return values[np.isfinite(values.astype(float))]


def zero_gradient_layers(run: RunData) -> dict[str, dict]:
    """Layers whose kernel gradient is 0 at (nearly) every probe after step 0: exactly 0, or
    below float32 rounding of the last layer's gradient (a theoretical 0 computed as 1e-12)."""
    grads = metric_table(run, "kernel_grad_norm")
    found = {}
    for layer in grads.columns:
        values = _finite(_after_start(grads[layer].dropna()))
        rounding = FLOAT32_EPS * grads[grads.columns[-1]].reindex(values.index).abs()
        zero = values[(values == 0) | (values <= rounding)]
        if len(values) and len(zero) >= PERSISTENT_FRAC * len(values):
            found[layer] = {"zero_probes": len(zero), "probes": len(values),
                            "first_step": int(zero.index[0])}
    return found


def zero_gradient(run: RunData) -> list[Finding]:
    """No gradient, no learning: the layer's weights never move from their start."""
    found = zero_gradient_layers(run)
    if not found:
        return []
    layer, row = next(iter(found.items()))
    return [Finding(
        "zero_gradient", "error", layer=layer, step=row["first_step"],
        evidence={"layers": found, "persistent_frac": PERSISTENT_FRAC},
        message=(f"Layer {layer} received a gradient of 0 (exactly, or below float32 rounding) "
                 f"at {row['zero_probes']} of {row['probes']} checks, so its weights never "
                 "change and it learns nothing"
                 + (f" (also: {', '.join(list(found)[1:])})." if len(found) > 1 else ".")),
        fix=("Remove what blocks the gradient, usually listed above: a softmax hidden layer, "
             "all-zero initial weights, or dead relu units; use relu and he_normal."))]


def symmetric_units(run: RunData) -> list[Finding]:
    """Units with identical incoming weights compute the same thing: a layer of N units
    behaves like one. Only random initial weights (or dropout) can make them differ."""
    spread, norm = metric_table(run, "unit_spread"), metric_table(run, "kernel_norm")
    specs, found = layer_specs(run), {}
    for layer in spread.columns:
        spec = specs.get(layer)
        units = (spec.units or spec.filters) if spec else None
        if (units is not None and units < 2) or layer not in norm:
            continue
        gap, size = spread[layer], norm[layer].reindex(spread.index)
        relative = _finite(pd.Series(np.where(gap == 0, 0.0, gap / size), index=gap.index)
                           .dropna())
        same = relative <= SYMMETRY_REL_TOL
        if len(same) and same.iloc[-1] and same.mean() >= PERSISTENT_FRAC:
            found[layer] = {"units": units, "max_relative_spread": float(relative.max()),
                            "probes": len(same)}
    if not found:
        return []
    layer, row = next(iter(found.items()))
    return [Finding(
        "symmetric_units", "error", layer=layer, step=0,
        evidence={"layers": found, "tolerance": SYMMETRY_REL_TOL},
        message=(f"All {row['units'] or 'the'} units of layer {layer} have identical weights at "
                 f"every check (largest difference {row['max_relative_spread']:.2g} of the "
                 "weights' size): they compute the same value, so the layer acts as one unit."),
        fix="Initialise the kernels randomly (he_normal or glorot_uniform), never constant.")]


def _first_step_over(run: RunData, layer: str, metrics: tuple[str, ...], limit: float) -> int:
    """The first probe where any of the metrics reaches the limit in this layer."""
    tables = [metric_table(run, metric) for metric in metrics]
    steps = [int(table.index[table[layer] >= limit][0]) for table in tables
             if layer in table and (table[layer] >= limit).any()]
    return min(steps, default=0)


def _late_median(run: RunData, metric: str, layer: str) -> float:
    table = metric_table(run, metric)
    if layer not in table:
        return math.nan
    values = _finite(table[layer].dropna())
    return float(late(values).median()) if len(values) else math.nan


def dead_relu(run: RunData) -> list[Finding]:
    """A relu unit whose input is negative for every example outputs 0 and gets no gradient,
    so it never recovers."""
    found = {}
    for layer, spec in layer_specs(run).items():
        if spec.activation != "relu":
            continue
        dead = _late_median(run, "dead_unit_frac", layer)
        zero = _late_median(run, "grad_zero_frac", layer)
        if max(np.nan_to_num([dead, zero])) >= DEAD_RELU_FRAC:
            found[layer] = {"dead_unit_frac": dead, "grad_zero_frac": zero}
    if not found:
        return []
    layer, row = next(iter(found.items()))
    share = max(np.nan_to_num([row["dead_unit_frac"], row["grad_zero_frac"]]))
    return [Finding(
        "dead_relu", outcome_severity(run), layer=layer,
        step=_first_step_over(run, layer, ("dead_unit_frac", "grad_zero_frac"), DEAD_RELU_FRAC),
        evidence={"layers": found, "threshold": DEAD_RELU_FRAC},
        message=(f"In the last third of training {100 * share:.0f}% of layer {layer}'s relu "
                 "units (or their gradients) are 0 for every example: these units are dead, "
                 "output nothing and never get a gradient to recover."),
        fix="Lower the learning rate and use he_normal init (or leaky_relu) for relu layers.")]


def saturated_activations(run: RunData) -> list[Finding]:
    """Sigmoid/tanh flatten out beyond |z| ~ 5: outputs stick at their limits and the slope
    that carries the gradient is ~0."""
    specs, found = layer_specs(run), {}
    for layer, spec in list(specs.items())[:-1]:  # a confident output layer is the goal
        if spec.activation not in ("sigmoid", "tanh"):
            continue
        large = _run_median(run, "preact_large_frac", layer)
        stuck = _run_median(run, "act_saturated_frac", layer)
        if max(np.nan_to_num([large, stuck])) > SATURATED_FRAC:
            found[layer] = {"activation": spec.activation, "preact_large_frac": large,
                            "act_saturated_frac": stuck}
    if not found:
        return []
    layer, row = next(iter(found.items()))
    return [Finding(
        "saturated_activations", outcome_severity(run), layer=layer,
        step=_first_step_over(run, layer, ("preact_large_frac", "act_saturated_frac"),
                              np.nextafter(SATURATED_FRAC, 1)),
        evidence={"layers": found, "threshold": SATURATED_FRAC},
        message=(f"Layer {layer} ({row['activation']}) is saturated: typically "
                 f"{100 * np.nan_to_num(row['preact_large_frac']):.0f}% of its inputs z have "
                 f"|z| >= 5 and {100 * np.nan_to_num(row['act_saturated_frac']):.0f}% of its "
                 "outputs sit at the flat ends, where the slope and so the gradient is ~0."),
        fix="Use relu with he_normal init, or smaller initial weights and normalised inputs.")]


def _run_median(run: RunData, metric: str, layer: str) -> float:
    table = metric_table(run, metric)
    values = _finite(table[layer].dropna()) if layer in table else pd.Series(dtype=float)
    return float(values.median()) if len(values) else math.nan


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
    at_chance = (rows["test_accuracy"] <= STALLED_ACCURACY).astype(bool)
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


def median_update_ratios(run: RunData) -> dict[str, float]:
    """Median |dW|/|W| per layer, skipping layers with no gradient (zero_gradient's case)."""
    ratios, zero, medians = metric_table(run, "update_ratio"), zero_gradient_layers(run), {}
    for layer in ratios.columns:
        values = _finite(ratios[layer].dropna())
        values = values[values > 0]
        if layer not in zero and len(values):
            medians[layer] = float(values.median())
    return medians


LAYER_RULES = (zero_gradient, symmetric_units, dead_relu, saturated_activations,
               vanishing_gradients, exploding_gradients)
