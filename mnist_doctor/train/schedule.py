"""The exact step schedule of one run, decided before it starts: how many updates, which batch
each one trains on, and the steps where the trainer stops to evaluate and to probe.

Steps are optimiser updates; batches come from a seeded per-epoch permutation (partial last
batch kept, as Keras does). Pure numpy; the trainer and the backends share these constants.
"""

from __future__ import annotations

import math

import numpy as np

from mnist_doctor.config.schema import ExperimentConfig

STEPS_PER_CALL = 100       # updates per compiled call: amortises dispatch, keeps Ctrl-C responsive
TRAIN_EVAL_EXAMPLES = 2000  # step-0 train metrics are measured on this many training examples
PROBE_EXAMPLES = 256        # fixed probe batch for dense nets
PROBE_EXAMPLES_CONV = 32    # conv probes cost a forward+backward of the conv net: keep them <10%
EARLY_PROBES = 5            # steps 0..4: where zero-gradient and NaN-at-start failures show
SPREAD_PROBES = 24          # further probes spread evenly over the run (>= ~20 points)


def total_steps(config: ExperimentConfig, train_size: int) -> int:
    per_epoch = math.ceil(train_size / config.train.batch_size)
    return config.train.steps or config.train.epochs * per_epoch


def batch_shapes(config: ExperimentConfig, train_size: int) -> set[int]:
    """The batch sizes a run trains on: the configured one, and the epoch's partial last batch
    when the run reaches the end of an epoch."""
    size = min(config.train.batch_size, train_size)
    partial = train_size % size
    reaches_epoch_end = total_steps(config, train_size) >= math.ceil(train_size / size)
    return {size, partial} if partial and reaches_epoch_end else {size}


def eval_steps(config: ExperimentConfig, train_size: int) -> set[int]:
    total = total_steps(config, train_size)
    every = config.train.eval_every
    interval = math.ceil(train_size / config.train.batch_size) if every == "epoch" else every
    return {0, total, *range(interval, total, interval)}


def probe_steps(total: int) -> set[int]:
    spread = {round(total * k / SPREAD_PROBES) for k in range(1, SPREAD_PROBES)}
    return {s for s in {*range(EARLY_PROBES), *spread} if s < total}


def batch_stream(train_size: int, batch_size: int, seed: int):
    """Endless batches of row indices: a fresh seeded permutation per epoch."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(train_size).astype(np.int32)
        for start in range(0, train_size, batch_size):
            yield order[start:start + batch_size]


def padded(indices: list[np.ndarray]) -> np.ndarray:
    """A (STEPS_PER_CALL, batch) index array, so every chunk reuses one compiled function."""
    out = np.zeros((STEPS_PER_CALL, len(indices[0])), dtype=np.int32)
    out[: len(indices)] = np.stack(indices)
    return out
