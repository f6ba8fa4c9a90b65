"""The `Stepper` protocol: what the training schedule needs from a Keras backend.

The schedule (trainer.py) is backend-agnostic; each backend module (tensorflow_backend.py,
jax_backend.py) provides one `Stepper` class that trains in compiled chunks, evaluates and
probes, and exchanges only the plain data below with the schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ChunkResult:
    """One compiled call: the sum of its per-step mean losses, the correct predictions and
    the index within the chunk of the first non-finite loss (-1 if none)."""

    loss_sum: float
    correct: float
    first_nonfinite: int


@dataclass(frozen=True)
class EvalResult:
    loss: float
    accuracy: float
    class_counts: np.ndarray


@dataclass(frozen=True)
class ProbeResult:
    """One probe batch: mean loss, each Keras layer's output by layer name, each gradient by
    variable path ("L0_dense/kernel")."""

    loss: float
    outputs: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]


class Stepper(Protocol):
    """Runs optimiser updates on a built Keras model with resident training data.

    Built as `Stepper(model, optimizer, loss_fn, reduction, x_train, y_train, jit=...,
    steps_per_call=..., perturb=...)`; `perturb(grads, update_count)`, when given, changes each
    update's gradients before the optimiser sees them (train/gradient_jitter.py).
    `path` names how it runs (run.json's `execution.path`); `notes`
    adds backend facts to run.json.
    """

    path: str
    notes: dict

    def warm_up(self, batch_sizes) -> None:
        """Compile the training loop for each batch shape without changing any state."""

    def run(self, indices: np.ndarray, count: int) -> ChunkResult:
        """Run `count` updates, batch i made of training rows indices[i]."""

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> EvalResult:
        """Mean loss, accuracy and predicted-class counts over a whole data set."""

    def probe(self, x: np.ndarray, y: np.ndarray) -> ProbeResult:
        """Loss, every layer's output and every trainable variable's gradient on one batch."""

    def weights(self) -> dict[str, np.ndarray]:
        """Each trainable variable by `<layer>/<variable>` key."""

    def snapshot(self):
        """Everything an update changes, to replay a failing chunk."""

    def restore(self, snapshot) -> None:
        """Put a snapshot back."""


@dataclass(frozen=True)
class Backend:
    """What one Keras backend provides to the runner; each backend module exports `BACKEND`."""

    name: str
    stepper: Callable[..., Stepper]                      # the Stepper class
    compile_choice: Callable[..., tuple[bool, str | None]]  # (use XLA?, why not)
    configure_device: Callable[[str], str]               # --device -> run.json's description
    limit_threads: Callable[[int], None]                 # a worker's share of the cores


def variable_keys(model) -> list[str]:
    """'<layer name>/<variable name>' for each trainable variable, in model order."""
    owner = {id(v): f"{layer.name}/{v.name}" for layer in model.layers
             for v in layer.trainable_variables}
    return [owner[id(v)] for v in model.trainable_variables]
