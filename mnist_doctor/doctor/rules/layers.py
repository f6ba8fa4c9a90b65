"""Per-layer rules: what each layer's recorded state shows (no gradient, identical units, dead
ReLUs, saturation).

Each rule takes a `RunData` and returns a list of findings, one per code at most; without
telemetry they return nothing. Mechanism findings are errors only when the run failed to learn,
warnings when it under-performed, and info when it learned anyway: the same number means less
in a run at 98%.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mnist_doctor.doctor.evidence import (
    PERSISTENT_FRAC,
    RunData,
    _finite,
    late,
    layer_specs,
    metric_table,
    outcome_severity,
    run_median,
    zero_gradient_layers,
)
from mnist_doctor.doctor.findings import Finding

# AUTOTRAINER: dying ReLU when >= 70% of a layer's gradient entries are exactly 0.
DEAD_RELU_FRAC = 0.7
# DeepDiagnosis (Wardat et al., ICSE'22): saturated when > 50% of |z| >= 5.
SATURATED_FRAC = 0.5
# unit_spread / kernel_norm below this means float32 copies of one unit.
SYMMETRY_REL_TOL = 1e-6


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
    behaves like one. Three cases: identical for the whole run (error); identical at the
    start, then drifting apart from some step (something perturbed the copies: dropout,
    rounding, a jitter on the biases); never identical (no finding)."""
    stuck, drifted = {}, {}
    # The output layer's units see different labels: they always part after step 0.
    output = max(layer_specs(run), key=lambda name: run.layer_indices[name], default=None)
    for layer, relative in _relative_spreads(run).items():
        same = relative <= SYMMETRY_REL_TOL
        if same.iloc[-1] and same.mean() >= PERSISTENT_FRAC:
            stuck[layer] = {"units": relative.name, "max_relative_spread": float(relative.max()),
                            "probes": len(same)}
        elif same.iloc[0] and layer != output:
            drifted[layer] = _drift(relative, same)
    if stuck:
        return [_stuck_finding(stuck, drifted)]
    return [_drift_finding(run, drifted)] if drifted else []


def _relative_spreads(run: RunData) -> dict[str, pd.Series]:
    """unit_spread / kernel_norm per probe, for each layer of at least two units."""
    spread, norm = metric_table(run, "unit_spread"), metric_table(run, "kernel_norm")
    specs, out = layer_specs(run), {}
    for layer in spread.columns:
        spec = specs.get(layer)
        units = (spec.units or spec.filters) if spec else None
        if (units is not None and units < 2) or layer not in norm:
            continue
        gap, size = spread[layer], norm[layer].reindex(spread.index)
        relative = _finite(pd.Series(np.where(gap == 0, 0.0, gap / size), index=gap.index)
                           .dropna())
        if len(relative):
            out[layer] = relative.rename(units)
    return out


def _drift(relative: pd.Series, same: pd.Series) -> dict:
    """Where identical units first differed, and how far apart they ended."""
    broke = int(same.index[~same][0])
    return {"units": relative.name,
            "identical_until_step": int(same.index[(same.index < broke) & same][-1]),
            "broke_at_step": broke, "relative_spread_at_break": float(relative[broke]),
            "relative_spread_at_end": float(relative.iloc[-1]),
            "last_step": int(relative.index[-1])}


def _stuck_finding(found: dict, drifted: dict) -> Finding:
    layer, row = next(iter(found.items()))
    others = "".join(f" Layer {name}'s units drifted apart from step {info['broke_at_step']}, "
                     "which does not untie this layer." for name, info in drifted.items())
    return Finding(
        "symmetric_units", "error", layer=layer, step=0,
        evidence={"layers": found, "drifted": drifted, "tolerance": SYMMETRY_REL_TOL},
        message=(f"All {row['units'] or 'the'} units of layer {layer} have identical weights at "
                 f"every check (largest difference {row['max_relative_spread']:.2g} of the "
                 "weights' size): they compute the same value, so the layer acts as one unit."
                 + others),
        fix="Initialise the kernels randomly (he_normal or glorot_uniform), never constant.")


def _drift_finding(run: RunData, found: dict) -> Finding:
    layer, row = min(found.items(), key=lambda item: item[1]["broke_at_step"])
    severity = "info" if outcome_severity(run) == "info" else "warning"
    return Finding(
        "symmetric_units", severity, layer=layer, step=row["broke_at_step"],
        evidence={"layers": found, "tolerance": SYMMETRY_REL_TOL},
        message=(f"The {row['units'] or ''} units of layer {layer} start identical and drift "
                 f"apart from step {row['broke_at_step']} (difference "
                 f"{row['relative_spread_at_break']:.2g} of the weights' size there, "
                 f"{row['relative_spread_at_end']:.2g} at step {row['last_step']}): until then "
                 "the layer acted as one unit, and only a perturbation made them differ."),
        fix="Initialise the kernels randomly (he_normal or glorot_uniform), never constant.")


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
        large = run_median(run, "preact_large_frac", layer)
        stuck = run_median(run, "act_saturated_frac", layer)
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


LAYER_RULES = (zero_gradient, symmetric_units, dead_relu, saturated_activations)
