"""Turn one probe (layer outputs, gradients, weights) into telemetry.csv rows.

Backend-agnostic numpy over what a Stepper's `probe` returns. The metric names and their
meaning are the contract in docs/run-format.md; the doctor's rules read only these rows.
"""

from __future__ import annotations

import numpy as np

from mnist_doctor.config.schema import ExperimentConfig, activation_label, layer_label

LARGE_PREACTIVATION = 5.0  # |z| >= 5: sigmoid/tanh are flat there (DeepDiagnosis, ICSE'22)
SIGMOID_SATURATION = 0.01  # sigmoid output within 1% of 0 or 1
TANH_SATURATION = 0.99
SOFTMAX_SATURATION = 1e-7  # float32 softmax outputs this close to 0 or 1 carry no gradient

Row = tuple[int, str, str, float]


def probe_rows(step: int, config: ExperimentConfig, probe, weights: dict) -> list[Row]:
    """Rows for every trainable layer plus the whole-model loss."""
    rows: list[Row] = [(step, "", "loss", probe.loss),
                       (step, "", "loss_nonfinite", float(not np.isfinite(probe.loss)))]
    for index, layer in enumerate(config.layers):
        if not layer.trainable:
            continue
        label = layer_label(index, layer)
        z = probe.outputs[label]
        a = probe.outputs[activation_label(index, layer)]
        stats = {**_weight_stats(label, weights, probe.grads),
                 **_preactivation_stats(z), **_activation_stats(a, layer.activation)}
        rows += [(step, label, metric, value) for metric, value in stats.items()]
    return rows


def update_rows(step: int, config: ExperimentConfig, before: dict, after: dict) -> list[Row]:
    """Relative size of one optimiser update per layer: |W_after - W| / |W| (kernel)."""
    rows = []
    for index, layer in enumerate(config.layers):
        if layer.trainable:
            label = layer_label(index, layer)
            key = f"{label}/kernel"
            norm = float(np.linalg.norm(before[key]))
            change = float(np.linalg.norm(after[key] - before[key]))
            rows.append((step, label, "update_ratio", change / norm if norm > 0 else np.nan))
    return rows


def prediction_rows(step: int, class_counts: np.ndarray) -> list[Row]:
    fractions = class_counts / max(int(class_counts.sum()), 1)
    return [(step, "output", f"pred_frac_{k}", float(f)) for k, f in enumerate(fractions)]


def first_nonfinite_layer(rows: list[Row]) -> str | None:
    """DeepLocalize-style: the first layer, in forward order, whose output is non-finite;
    'loss' when all outputs are finite but the loss is not (log of an exact 0)."""
    for _, layer, metric, value in rows:
        if metric == "act_nonfinite_frac" and value > 0:
            return layer
    if any(metric == "loss_nonfinite" and value > 0 for _, _, metric, value in rows):
        return "loss"
    return None


def _weight_stats(label: str, weights: dict, grads: dict) -> dict[str, float]:
    kernel, bias = weights[f"{label}/kernel"], weights[f"{label}/bias"]
    kernel_grad, bias_grad = grads[f"{label}/kernel"], grads[f"{label}/bias"]
    by_unit = kernel.reshape(-1, kernel.shape[-1])  # rows: inputs, columns: units
    return {
        "kernel_norm": float(np.linalg.norm(kernel)),
        "bias_norm": float(np.linalg.norm(bias)),
        "kernel_grad_norm": float(np.linalg.norm(kernel_grad)),
        "bias_grad_norm": float(np.linalg.norm(bias_grad)),
        "grad_zero_frac": float(np.mean(kernel_grad == 0)),
        "unit_spread": float(np.max(np.ptp(by_unit, axis=1))) if by_unit.shape[1] > 1 else np.nan,
        "kernel_nonfinite": float(not np.all(np.isfinite(kernel))),
        "grad_nonfinite": float(not (np.all(np.isfinite(kernel_grad))
                                     and np.all(np.isfinite(bias_grad)))),
    }


def _preactivation_stats(z: np.ndarray) -> dict[str, float]:
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = np.abs(z)
        return {"preact_abs_mean": float(np.mean(magnitude)),
                "preact_abs_max": float(np.max(magnitude)),
                "preact_large_frac": float(np.mean(magnitude >= LARGE_PREACTIVATION))}


def _activation_stats(a: np.ndarray, activation: str) -> dict[str, float]:
    by_unit = a.reshape(-1, a.shape[-1])
    with np.errstate(invalid="ignore", over="ignore"):
        return {
            "act_mean": float(np.mean(a)),
            "act_std": float(np.std(a)),
            "act_zero_frac": float(np.mean(a == 0)),
            "dead_unit_frac": float(np.mean(np.all(by_unit == 0, axis=0))),
            "act_saturated_frac": _saturated_fraction(a, activation),
            "act_nonfinite_frac": float(np.mean(~np.isfinite(a))),
        }


def _saturated_fraction(a: np.ndarray, activation: str) -> float:
    if activation == "sigmoid":
        return float(np.mean((a < SIGMOID_SATURATION) | (a > 1 - SIGMOID_SATURATION)))
    if activation == "tanh":
        return float(np.mean(np.abs(a) > TANH_SATURATION))
    if activation == "softmax":
        return float(np.mean((a < SOFTMAX_SATURATION) | (a > 1 - SOFTMAX_SATURATION)))
    return np.nan
