"""What training needs from a Keras backend, as plain data, and how to get a backend's Stepper.

The schedule in train.py is backend-agnostic; each backend module (backend_tensorflow.py,
backend_jax.py) provides one `Stepper` class that trains in compiled chunks, evaluates and
probes. The backend is chosen by Keras (KERAS_BACKEND), set by the CLI before Keras loads.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def backend_name() -> str:
    import keras

    return keras.backend.backend()


def stepper_class():
    """The Stepper of the active Keras backend."""
    name = backend_name()
    if name == "tensorflow":
        from mnist_doctor.backend_tensorflow import Stepper
    elif name == "jax":
        from mnist_doctor.backend_jax import Stepper
    else:
        raise RuntimeError(f"Keras backend {name!r} is not supported; use tensorflow or jax")
    return Stepper


def configure_device(device: str) -> str:
    name = backend_name()
    if name == "tensorflow":
        from mnist_doctor.backend_tensorflow import configure_device as configure
    else:
        from mnist_doctor.backend_jax import configure_device as configure
    return configure(device)
