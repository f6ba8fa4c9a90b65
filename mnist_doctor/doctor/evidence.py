"""What the doctor reads: one run's recorded files as `RunData`, and the measurements that
several rules share (per-layer tables, best accuracy, how badly the run failed, update sizes).

Pure pandas over what is on disk (docs/run-format.md); no TensorFlow. Layers are matched to the
config by `config.layer_label`, the names the model and telemetry were given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from mnist_doctor.config.schema import ExperimentConfig, Layer, layer_label
from mnist_doctor.config.shapes import fan_ins
from mnist_doctor.vocabulary import MNIST_CHANCE_ACCURACY

# float32 machine epsilon: a gradient this much smaller than another is rounding noise.
FLOAT32_EPS = 1.2e-7
# Share of probes (after step 0) that must show the pattern; tolerates one odd probe.
PERSISTENT_FRAC = 0.9
# Best test accuracy below which a run failed / under-performed (a linear model reaches 0.92).
# A test accuracy within 2 points of chance counts as "at chance".
CHANCE_MARGIN = 0.02
FAILED_ACCURACY = 0.5
GOOD_ACCURACY = 0.9
# Too few updates to judge learning: even a good model is near chance after a few steps.
MIN_STEPS_TO_JUDGE = 50


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

    @cached_property
    def layer_indices(self) -> dict[str, int]:
        """Each trainable layer's recorded name -> its index in config.layers, forward order."""
        return {layer_label(index, layer): index
                for index, layer in enumerate(self.config.layers) if layer.trainable}


def chance_accuracy(run: RunData) -> float:
    """Always answering the most common class: run.json's `chance_accuracy` when the run
    recorded it from its labels (mnist_doctor.Doctor), else MNIST's digit 1."""
    return float(run.run_info.get("chance_accuracy") or MNIST_CHANCE_ACCURACY)


def metric_table(run: RunData, metric: str) -> pd.DataFrame:
    """A step x layer table of one per-layer metric, layers in forward order."""
    table = run.tables.get(metric, pd.DataFrame())
    return table[[label for label in run.layer_indices if label in table.columns]]


def model_series(run: RunData, metric: str, layer: str = "") -> pd.Series:
    """A whole-model (layer '') or output metric by step."""
    table = run.tables.get(metric, pd.DataFrame())
    return table[layer].dropna() if layer in table else pd.Series(dtype=float)


def layer_specs(run: RunData) -> dict[str, Layer]:
    """Recorded layer name -> its config layer (activation, units), forward order."""
    names = set(metric_table(run, "kernel_norm").columns)
    return {name: run.config.layers[i] for name, i in run.layer_indices.items() if name in names}


def kernel_sizes(run: RunData) -> dict[str, int]:
    """Number of kernel weights per layer: fan_in x units (or filters)."""
    fans = fan_ins(run.config)
    return {name: fans[i] * (run.config.layers[i].units or run.config.layers[i].filters)
            for name, i in run.layer_indices.items()}


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


def median_update_ratios(run: RunData) -> dict[str, float]:
    """Median |dW|/|W| per layer, skipping layers with no gradient (zero_gradient's case)."""
    ratios, zero, medians = metric_table(run, "update_ratio"), zero_gradient_layers(run), {}
    for layer in ratios.columns:
        values = _finite(ratios[layer].dropna())
        values = values[values > 0]
        if layer not in zero and len(values):
            medians[layer] = float(values.median())
    return medians


def steps_done(run: RunData) -> int:
    if run.run_info.get("steps_completed") is not None:
        return int(run.run_info["steps_completed"])
    return int(run.metrics["step"].max()) if len(run.metrics) else 0


def loss_curve(run: RunData) -> pd.Series:
    """The probe loss (one fixed batch, so no sampling noise) when probed often enough,
    else the training loss from metrics.csv."""
    probe = model_series(run, "loss")
    if len(probe) >= 5:
        return probe.astype(float)
    if not len(run.metrics):
        return pd.Series(dtype=float)
    return run.metrics.drop_duplicates("step").set_index("step")["train_loss"].astype(float)


def run_median(run: RunData, metric: str, layer: str) -> float:
    table = metric_table(run, metric)
    values = _finite(table[layer].dropna()) if layer in table else pd.Series(dtype=float)
    return float(values.median()) if len(values) else math.nan


def first_nonfinite_step(run: RunData) -> int | None:
    flags = model_series(run, "loss_nonfinite")
    if (flags >= 1).any():
        return int(flags[flags >= 1].index[0])
    metrics = run.metrics
    if not len(metrics):
        return None
    bad = metrics[(metrics.get("nan", 0) >= 1) | ~np.isfinite(metrics["train_loss"])]
    return int(bad["step"].iloc[0]) if len(bad) else None
