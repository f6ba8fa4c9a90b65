"""Each finding's fix as config changes a trial can apply: one mechanism, one or more repairs.

Every proposal follows from the mechanism of its finding, never from a particular config: a
layer whose units start identical needs a random init; a step too large needs a smaller one;
a dead ReLU layer may need a smaller step, He init or a leaky slope, and when a mechanism has
several plausible repairs all of them are proposed and the trials decide. Symptoms (a loss that
does not fall, a collapsed output) get no fix of their own: the causes above them carry it.
"""

from __future__ import annotations

from collections.abc import Callable

from mnist_doctor.config.schema import ExperimentConfig, layer_label
from mnist_doctor.doctor.findings import Finding, Fix
from mnist_doctor.vocabulary import Code

# Activations whose units die or flatten below zero: they want He init, sqrt(2 / fan_in).
RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu")
SQUASHING = ("sigmoid", "tanh")
STANDARD_OPTIMIZER = {"optimizer.name": "adam", "optimizer.learning_rate": 0.001}


def with_fixes(finding: Finding, config: ExperimentConfig) -> Finding:
    """The finding with its `fixes` filled in (unchanged when it has none)."""
    propose = PROPOSALS.get(finding.code)
    fixes = tuple(fix for fix in (propose(finding, config) if propose else ()) if fix.changes)
    return finding if not fixes else Finding(
        finding.code, finding.severity, finding.message, finding.fix, finding.layer,
        finding.step, finding.evidence, fixes)


# -- building blocks -------------------------------------------------------------------------
def _indices(config: ExperimentConfig) -> dict[str, int]:
    return {layer_label(index, layer): index for index, layer in enumerate(config.layers)}


def _evidence_layers(finding: Finding) -> list[str]:
    layers = finding.evidence.get("layers")
    if isinstance(layers, dict):
        return list(layers)
    if isinstance(layers, list):
        return [row["layer"] if isinstance(row, dict) else str(row) for row in layers]
    return [finding.layer] if finding.layer else []


def standard_init(config: ExperimentConfig, index: int) -> str:
    """He init for ReLU-like units, Glorot for the rest (Keras's default)."""
    return "he_normal" if config.layers[index].activation in RELU_LIKE else "glorot_uniform"


def random_init(config: ExperimentConfig, labels: list[str], name: str = "random-init") -> Fix:
    index = _indices(config)
    chosen = [label for label in labels if label in index]
    changes = {f"model.layers[{index[label]}].kernel_init": standard_init(config, index[label])
               for label in chosen}
    what = ", ".join(f"{label} ({changes[f'model.layers[{index[label]}].kernel_init']})"
                     for label in chosen)
    return Fix(f"{name}-{'-'.join(chosen)}", changes, f"a random init of {what}")


def set_activation(config: ExperimentConfig, labels: list[str], activation: str) -> Fix:
    index = _indices(config)
    chosen = [label for label in labels if label in index]
    changes = {f"model.layers[{index[label]}].activation": activation for label in chosen}
    return Fix(f"{activation.replace('_', '-')}-{'-'.join(chosen)}", changes,
               f"{activation} on {', '.join(chosen)}")


def scale_learning_rate(config: ExperimentConfig, factor: float) -> Fix:
    rate = config.optimizer.learning_rate
    verb = f"dividing the learning rate by {1 / factor:g}" if factor < 1 \
        else f"multiplying the learning rate by {factor:g}"
    slug = f"lr-div{1 / factor:g}" if factor < 1 else f"lr-x{factor:g}"
    return Fix(slug, {"optimizer.learning_rate": float(f"{rate * factor:.6g}")},
               f"{verb} ({rate:g} -> {rate * factor:.6g})")


def standard_optimizer(config: ExperimentConfig) -> Fix:
    """Adam at Keras's default step: the reference a working architecture reaches."""
    changes = dict(STANDARD_OPTIMIZER)
    if config.optimizer.name == "sgd" and (config.optimizer.momentum or config.optimizer.nesterov):
        changes.update({"optimizer.momentum": 0.0, "optimizer.nesterov": False})
    return Fix("adam", changes, "Adam at learning rate 0.001 instead of "
               f"{config.optimizer.name} at {config.optimizer.learning_rate:g}")


def _hidden(config: ExperimentConfig, activations: tuple[str, ...]) -> list[str]:
    return [layer_label(i, layer) for i, layer in enumerate(config.layers)
            if layer.trainable and i != _last(config) and layer.activation in activations]


def _last(config: ExperimentConfig) -> int:
    return len(config.layers) - 1


# -- one proposal per code -------------------------------------------------------------------
def _output_fixes(config: ExperimentConfig) -> list[Fix]:
    """Make the last layer and the loss agree: probabilities with a probability loss, logits
    with the logits loss."""
    last, activation = _last(config), config.layers[-1].activation
    if activation == "softmax":
        return [Fix("crossentropy", {"loss": "crossentropy"},
                    "the clipped probability cross-entropy on the softmax output")]
    if activation == "linear":
        return [Fix("logits-crossentropy", {"loss": "logits_crossentropy"},
                    "the stable cross-entropy on the linear output (logits)")]
    return [Fix("softmax-output", {f"model.layers[{last}].activation": "softmax",
                                   "loss": "crossentropy"},
                "a softmax last layer with the probability cross-entropy")]


def _double_softmax(finding: Finding, config: ExperimentConfig) -> list[Fix]:
    return [Fix("linear-output", {f"model.layers[{_last(config)}].activation": "linear"},
                "a linear last layer, so the loss's softmax is the only one"),
            Fix("crossentropy", {"loss": "crossentropy"},
                "the probability cross-entropy on the softmax output")]


def _nan(finding: Finding, config: ExperimentConfig) -> list[Fix]:
    fixes = []
    if config.loss == "naive_log" and finding.evidence.get("first_nonfinite_layer") in (
            "loss", None):
        fixes += _output_fixes(config) if config.layers[-1].activation == "softmax" else []
    return fixes + [scale_learning_rate(config, 0.1)]


def _dead_relu(finding: Finding, config: ExperimentConfig) -> list[Fix]:
    layers = _evidence_layers(finding)
    return [scale_learning_rate(config, 0.1), random_init(config, layers, "he-init"),
            set_activation(config, layers, "leaky_relu")]


def _saturated(finding: Finding, config: ExperimentConfig) -> list[Fix]:
    fixes = [set_activation(config, _evidence_layers(finding), "relu"),
             scale_learning_rate(config, 0.1)]
    if not config.data.normalize:
        fixes.append(Fix("normalize", {"data.normalize": True}, "pixels scaled to 0..1"))
    return fixes


def _vanishing(finding: Finding, config: ExperimentConfig) -> list[Fix]:
    squashing = _hidden(config, SQUASHING)
    fixes = [set_activation(config, squashing, "relu")] if squashing else []
    return fixes + [standard_optimizer(config)]


def _all_layers_init(finding: Finding, config: ExperimentConfig) -> list[Fix]:
    trainable = [layer_label(i, layer) for i, layer in enumerate(config.layers) if layer.trainable]
    return [random_init(config, trainable, "standard-init")]


Proposal = Callable[[Finding, ExperimentConfig], list[Fix]]
PROPOSALS: dict[str, Proposal] = {
    Code.SOFTMAX_IN_HIDDEN_LAYER: lambda f, c: [set_activation(c, _evidence_layers(f), "relu")],
    Code.CONSTANT_INIT: lambda f, c: [random_init(c, _evidence_layers(f))],
    Code.MISSING_ACTIVATION: lambda f, c: [set_activation(
        c, [pair[0] for pair in f.evidence.get("pairs", [])], "relu")],
    Code.DOUBLE_SOFTMAX: _double_softmax,
    Code.OUTPUT_NOT_PROBABILITIES: lambda f, c: _output_fixes(c),
    Code.UNNORMALIZED_INPUT: lambda f, c: [Fix("normalize", {"data.normalize": True},
                                               "pixels scaled to 0..1")],
    Code.LARGE_INIT_SCALE: lambda f, c: [random_init(c, _evidence_layers(f), "standard-init")],
    Code.DEEP_INIT_COMPOUNDING: _all_layers_init,
    Code.MSE_FOR_CLASSIFICATION: lambda f, c: _output_fixes(c),
    Code.SUMMED_LOSS_LARGE_BATCH: lambda f, c: [Fix("mean-loss", {"loss_reduction": "mean"},
                                                    "the loss averaged over the batch")],
    Code.LEARNING_RATE_TOO_HIGH: lambda f, c: [scale_learning_rate(c, 0.1)],
    Code.LEARNING_RATE_TOO_LOW: lambda f, c: [scale_learning_rate(c, 10.0)],
    Code.SLOW_PLAIN_GRADIENT_DESCENT: lambda f, c: [standard_optimizer(c)],
    Code.ZERO_GRADIENT: lambda f, c: [random_init(c, _evidence_layers(f)),
                                      scale_learning_rate(c, 0.1)],
    Code.SYMMETRIC_UNITS: lambda f, c: [random_init(c, _evidence_layers(f))],
    Code.DEAD_RELU: _dead_relu,
    Code.SATURATED_ACTIVATIONS: _saturated,
    Code.VANISHING_GRADIENTS: _vanishing,
    Code.EXPLODING_GRADIENTS: lambda f, c: [scale_learning_rate(c, 0.1)],
    Code.NAN_LOSS: _nan,
    Code.DIVERGING_LOSS: lambda f, c: [scale_learning_rate(c, 0.1)],
    Code.OSCILLATING_LOSS: lambda f, c: [scale_learning_rate(c, 0.1)],
    Code.UNDERPERFORMING: lambda f, c: [standard_optimizer(c)],
}
