"""The shared words of mnist-doctor: run statuses, finding codes, severities, chance level.

A leaf module that any room may import and that imports nothing of ours. These names are public
contracts: run.json, summary.csv, diagnosis.json, `expect:` blocks and users' CI scripts match
on their string values, so each is a `StrEnum` (equal to its string, written as its string).
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """What became of one run (run.json's `status`)."""

    RUNNING = "running"          # written at the start; a folder still saying so was killed
    COMPLETED = "completed"      # trained to the end
    DIVERGED = "diverged"        # the loss went non-finite: a result, not an error
    FAILED = "failed"            # an error stopped the run
    INTERRUPTED = "interrupted"  # Ctrl-C or a stop request
    UNREADABLE = "unreadable"    # run.json cannot be read back (reporting only)


# Outcomes of training: the run's numbers are its result, and --resume keeps them.
RECORDED = (RunStatus.COMPLETED, RunStatus.DIVERGED)
# Statuses that make `mnist-doctor run` exit 1.
ERROR_STATUSES = (RunStatus.FAILED, RunStatus.INTERRUPTED, RunStatus.UNREADABLE)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITIES = tuple(Severity)


class Code(StrEnum):
    """Every finding the doctor can report; docs/run-format.md and the README explain each."""

    # Mistakes visible in the config before training, most fundamental first.
    SOFTMAX_IN_HIDDEN_LAYER = "softmax_in_hidden_layer"
    CONSTANT_INIT = "constant_init"
    MISSING_ACTIVATION = "missing_activation"
    DOUBLE_SOFTMAX = "double_softmax"
    OUTPUT_NOT_PROBABILITIES = "output_not_probabilities"
    UNNORMALIZED_INPUT = "unnormalized_input"
    LARGE_INIT_SCALE = "large_init_scale"
    MSE_FOR_CLASSIFICATION = "mse_for_classification"
    SUMMED_LOSS = "summed_loss"
    # Hyper-parameters: causes that the recorded updates reveal.
    LEARNING_RATE_TOO_HIGH = "learning_rate_too_high"
    LEARNING_RATE_TOO_LOW = "learning_rate_too_low"
    # How the failure works inside the network (per layer).
    ZERO_GRADIENT = "zero_gradient"
    SYMMETRIC_UNITS = "symmetric_units"
    DEAD_RELU = "dead_relu"
    SATURATED_ACTIVATIONS = "saturated_activations"
    VANISHING_GRADIENTS = "vanishing_gradients"
    EXPLODING_GRADIENTS = "exploding_gradients"
    # What the user sees: the loss and the accuracy.
    NAN_LOSS = "nan_loss"
    DIVERGING_LOSS = "diverging_loss"
    OSCILLATING_LOSS = "oscillating_loss"
    OUTPUT_COLLAPSE = "output_collapse"
    STUCK_AT_CHANCE = "stuck_at_chance"
    LOSS_NOT_DECREASING = "loss_not_decreasing"


_TIER_STARTS = (Code.SOFTMAX_IN_HIDDEN_LAYER, Code.LEARNING_RATE_TOO_HIGH, Code.ZERO_GRADIENT,
                Code.NAN_LOSS)


def _tiers() -> tuple[tuple[Code, ...], ...]:
    """The codes cut into the four tiers at the first code of each (declaration order)."""
    order = list(Code)
    cuts = [order.index(start) for start in _TIER_STARTS] + [len(order)]
    return tuple(tuple(order[a:b]) for a, b in zip(cuts, cuts[1:], strict=False))


STATIC_CODES, HYPERPARAMETER_CODES, MECHANISM_CODES, OUTCOME_CODES = _tiers()
CODES = tuple(str(code) for code in Code)

# MNIST's most common test digit (1) is 1135 of 10000 images: the accuracy of always
# answering it, and so the "chance" level a stuck network sits at.
MNIST_CHANCE_ACCURACY = 0.1135
