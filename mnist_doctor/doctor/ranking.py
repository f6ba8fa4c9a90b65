"""The order of a run's findings: the one to fix first comes first.

Without trials the order is fixed by kind: errors before warnings; config mistakes before the
hyper-parameters they set, those before the mechanisms they trigger, mechanisms before the
symptoms a user sees. A config warning that explains the run's observed failure is promoted to
an error (`escalate`).
"""

from __future__ import annotations

from mnist_doctor.doctor.findings import Finding
from mnist_doctor.vocabulary import (
    CODES,
    HYPERPARAMETER_CODES,
    MECHANISM_CODES,
    OUTCOME_CODES,
    SEVERITIES,
    STATIC_CODES,
)

# Causes before the mechanisms they trigger, mechanisms before the symptoms they produce.
_TIER = {
    **{code: 0 for code in STATIC_CODES},
    **{code: 1 for code in HYPERPARAMETER_CODES},
    **{code: 2 for code in MECHANISM_CODES},
    **{code: 3 for code in OUTCOME_CODES},
}


# The mechanisms through which each config warning makes a run fail. A warning becomes the
# error to fix first only when the run shows one of them; a symptom any cause can produce (a
# flat loss, an output stuck at one class) is no evidence for a particular warning.
EXPLAINS = {
    "unnormalized_input": {"saturated_activations", "exploding_gradients", "dead_relu",
                           "learning_rate_too_high", "diverging_loss", "nan_loss"},
    "large_init_scale": {"saturated_activations", "exploding_gradients", "dead_relu",
                         "vanishing_gradients", "nan_loss"},
    "deep_init_compounding": {"saturated_activations", "exploding_gradients", "dead_relu",
                              "vanishing_gradients", "nan_loss"},
    "constant_init": {"symmetric_units", "zero_gradient"},
    "mse_for_classification": {"vanishing_gradients", "saturated_activations"},
    "summed_loss_large_batch": {"learning_rate_too_high", "diverging_loss", "exploding_gradients",
                                "dead_relu", "nan_loss"},
}


def order_key(finding: Finding) -> tuple:
    """Errors first; within a severity, causes before symptoms; then the earliest step."""
    step = -1 if finding.step is None else finding.step  # static findings: before training
    return (SEVERITIES.index(finding.severity), _TIER[finding.code], step,
            CODES.index(finding.code), finding.layer or "")


def root_cause_order(findings) -> list[Finding]:
    """The findings sorted so the one to fix first comes first."""
    return sorted(findings, key=order_key)


def escalate(static: list[Finding], dynamic: list[Finding]) -> list[Finding]:
    """Promote config warnings that explain the run's observed errors (see EXPLAINS)."""
    if any(finding.severity == "error" for finding in static):
        return static
    failures = {finding.code for finding in dynamic if finding.severity == "error"}
    promoted = []
    for finding in static:
        caused = sorted(EXPLAINS.get(finding.code, set()) & failures)
        if finding.severity == "warning" and caused:
            finding = Finding(
                finding.code, "error", layer=finding.layer, step=finding.step,
                evidence={**finding.evidence, "explains": caused},
                message=f"{finding.message} In this run it went wrong: {', '.join(caused)}.",
                fix=finding.fix)
        promoted.append(finding)
    return promoted
