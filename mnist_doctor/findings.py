"""What the doctor says: one `Finding` per problem, from a fixed vocabulary of codes.

The codes are a public contract (config `expect:` blocks and users' scripts match on them), so
they live here as constants. This module also owns the order findings are shown in: the root
cause first, because a beginner fixes the first thing on the list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Mistakes visible in the config before training, most fundamental first.
STATIC_CODES = (
    "softmax_in_hidden_layer",
    "constant_init",
    "missing_activation",
    "double_softmax",
    "output_not_probabilities",
    "unnormalized_input",
    "large_init_scale",
    "mse_for_classification",
)
# Hyper-parameters: causes that the recorded updates reveal.
HYPERPARAMETER_CODES = ("learning_rate_too_high", "learning_rate_too_low")
# How the failure works inside the network (per layer).
MECHANISM_CODES = (
    "zero_gradient",
    "symmetric_units",
    "dead_relu",
    "saturated_activations",
    "vanishing_gradients",
    "exploding_gradients",
)
# What the user sees: the loss and the accuracy.
OUTCOME_CODES = (
    "nan_loss",
    "diverging_loss",
    "oscillating_loss",
    "output_collapse",
    "stuck_at_chance",
    "loss_not_decreasing",
)
DYNAMIC_CODES = HYPERPARAMETER_CODES + MECHANISM_CODES + OUTCOME_CODES
CODES = STATIC_CODES + DYNAMIC_CODES
SEVERITIES = ("error", "warning", "info")

# Causes before the mechanisms they trigger, mechanisms before the symptoms they produce.
_TIER = {
    **{code: 0 for code in STATIC_CODES},
    **{code: 1 for code in HYPERPARAMETER_CODES},
    **{code: 2 for code in MECHANISM_CODES},
    **{code: 3 for code in OUTCOME_CODES},
}


@dataclass(frozen=True)
class Finding:
    """One diagnosed problem: what, where, when, the numbers that show it, and the fix."""

    code: str
    severity: str
    message: str
    fix: str
    layer: str | None = None
    step: int | None = None
    evidence: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}; allowed: {', '.join(CODES)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, "
                             f"got {self.severity!r}")

    def to_dict(self) -> dict:
        """Plain JSON-ready types; non-finite numbers become the strings 'nan'/'inf'."""
        return {
            "code": self.code,
            "severity": self.severity,
            "layer": self.layer,
            "step": None if self.step is None else int(self.step),
            "evidence": json_safe(self.evidence),
            "message": self.message,
            "fix": self.fix,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(code=data["code"], severity=data["severity"], message=data["message"],
                   fix=data["fix"], layer=data.get("layer"), step=data.get("step"),
                   evidence=dict(data.get("evidence") or {}))


def json_safe(value: Any) -> Any:
    """Numpy scalars to Python numbers, NaN/inf to strings: strict JSON has no NaN."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def order_key(finding: Finding) -> tuple:
    """Errors first; within a severity, causes before symptoms; then the earliest step."""
    step = -1 if finding.step is None else finding.step  # static findings: before training
    return (SEVERITIES.index(finding.severity), _TIER[finding.code], step,
            CODES.index(finding.code), finding.layer or "")


def root_cause_order(findings) -> list[Finding]:
    """The findings sorted so the one to fix first comes first."""
    return sorted(findings, key=order_key)
