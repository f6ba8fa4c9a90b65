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


def variable_keys(model) -> list[str]:
    """'<layer name>/<variable name>' for each trainable variable, in model order."""
    owner = {id(v): f"{layer.name}/{v.name}" for layer in model.layers
             for v in layer.trainable_variables}
    return [owner[id(v)] for v in model.trainable_variables]


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


def build_stepper(make_stepper, batch_sizes, jit: bool = True):
    """A warmed-up Stepper and how it runs, falling back from XLA when compilation fails.

    `make_stepper(jit)` builds a fresh model, optimiser and Stepper (a failed attempt may have
    built optimiser slots). Warming up compiles the loop for every batch shape of the run with
    zero updates, so a compiler error shows here, before anything is recorded, and the run
    retries on the uncompiled path instead of failing. Returns (stepper, execution dict).
    """
    stepper = make_stepper(jit)
    try:
        stepper.warm_up(batch_sizes)
        return stepper, {"path": stepper.path, "fallback_reason": None,
                         **getattr(stepper, "notes", {})}
    except Exception as err:  # noqa: BLE001 - any compiler failure gets the same retry
        if not jit:
            raise
        reason = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:200]}"
    del stepper
    stepper = make_stepper(False)
    stepper.warm_up(batch_sizes)
    return stepper, {"path": stepper.path, "fallback_reason": reason,
                     **getattr(stepper, "notes", {})}


def compile_choice(config) -> tuple[bool, str | None]:
    """Whether XLA is the faster path for this model on this backend and device, and why not
    when it is not (recorded in run.json's execution)."""
    if backend_name() == "tensorflow":
        from mnist_doctor.backend_tensorflow import compile_choice as choose
    else:
        from mnist_doctor.backend_jax import compile_choice as choose
    return choose(config)


def release_memory() -> None:
    """Free what a finished run left: its model, Stepper and compiled functions sit in reference
    cycles that Python's collector may not reach for many runs, each holding the training data."""
    import gc
    import sys

    if "keras" in sys.modules:
        import keras

        keras.backend.clear_session()
    gc.collect()


def set_random_seed(seed: int) -> None:
    """keras.utils.set_random_seed, without its TensorFlow import on the JAX backend."""
    if backend_name() == "tensorflow":
        import keras

        keras.utils.set_random_seed(seed)
    else:
        from mnist_doctor.backend_jax import set_random_seed as set_jax_seed

        set_jax_seed(seed)


def configure_device(device: str) -> str:
    name = backend_name()
    if name == "tensorflow":
        from mnist_doctor.backend_tensorflow import configure_device as configure
    else:
        from mnist_doctor.backend_jax import configure_device as configure
    return configure(device)
