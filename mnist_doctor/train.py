"""One run: seed, build, then train on an exact schedule of evaluations and telemetry probes.

The schedule is backend-agnostic. Steps are optimiser updates; batches come from a seeded
per-epoch permutation (partial last batch kept, as Keras does). Training runs in compiled chunks
between "boundaries": evaluation steps, probe steps and the step after each probe (to measure
one real update). A non-finite loss stops the run: the row is recorded, the failing batch is
replayed from the chunk's snapshot and probed to find the first layer that went non-finite.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from mnist_doctor import telemetry
from mnist_doctor.config import ExperimentConfig
from mnist_doctor.data import Prepared
from mnist_doctor.runs import RunFolder

STEPS_PER_CALL = 100       # updates per compiled call: amortises dispatch, keeps Ctrl-C responsive
TRAIN_EVAL_EXAMPLES = 2000  # step-0 train metrics are measured on this many training examples
PROBE_EXAMPLES = 256        # fixed probe batch for dense nets
PROBE_EXAMPLES_CONV = 32    # conv probes cost a forward+backward of the conv net: keep them <10%
EARLY_PROBES = 5            # steps 0..4: where zero-gradient and NaN-at-start failures show
SPREAD_PROBES = 24          # further probes spread evenly over the run (>= ~20 points)


@dataclass
class Outcome:
    status: str = "completed"
    steps_completed: int = 0
    epochs_completed: float = 0.0
    first_nan_step: int | None = None
    first_nan_epoch: float | None = None
    first_nonfinite_layer: str | None = None
    final: dict = field(default_factory=dict)
    telemetry_seconds: float = 0.0
    execution: dict = field(default_factory=dict)


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


class Trainer:
    """Drives a backend Stepper through one run's schedule, writing rows as it goes."""

    def __init__(self, config, data: Prepared, folder: RunFolder, stepper, *, doctor=True,
                 progress=None):
        self.config, self.data, self.folder, self.stepper = config, data, folder, stepper
        self.doctor, self.progress = doctor, progress or (lambda *args: None)
        self.train_size = len(data.x_train)
        self.total = total_steps(config, self.train_size)
        self.evals = eval_steps(config, self.train_size)
        self.probes = probe_steps(self.total) if doctor else set()
        self.batches = batch_stream(self.train_size, config.train.batch_size, config.seed)
        probe_size = PROBE_EXAMPLES if config.data.flatten else PROBE_EXAMPLES_CONV
        self.probe_x, self.probe_y = data.x_train[:probe_size], data.y_train[:probe_size]
        self.outcome = Outcome()
        self.started = time.perf_counter()
        self.step = 0
        self._window = [0.0, 0.0, 0, 0, False]  # loss sum, correct, steps, examples, nan seen
        self._pending_update: tuple[int, dict] | None = None
        self.best_test_accuracy = -1.0

    def run(self) -> Outcome:
        self._at_boundary()
        boundaries = sorted(self.evals | self.probes | {p + 1 for p in self.probes} | {self.total})
        for boundary in boundaries:
            if boundary <= self.step:
                continue
            if not self._train_until(boundary):
                break
            self._at_boundary()
        self.outcome.steps_completed = self.step
        self.outcome.epochs_completed = self._epochs(self.step)
        return self.outcome

    # -- training between boundaries -----------------------------------------------------
    def _train_until(self, target: int) -> bool:
        """Run updates up to `target`; False when a non-finite loss stopped the run."""
        while self.step < target:
            indices = self._next_chunk(target - self.step)
            snapshot = self.stepper.snapshot() if self.doctor else None
            result = self.stepper.run(_padded(indices), len(indices))
            self._accumulate(result, len(indices), indices)
            if result.first_nonfinite >= 0:
                self._diverged(result.first_nonfinite, indices, snapshot)
                return False
            self.step += len(indices)
            self.progress(self.step, self.total, *self._window_means())
        return True

    def _next_chunk(self, remaining: int) -> list[np.ndarray]:
        """Consecutive batches of one shape (a partial epoch-end batch goes alone)."""
        chunk = []
        while len(chunk) < min(remaining, STEPS_PER_CALL):
            batch = self._peek()
            if chunk and len(batch) != len(chunk[0]):
                break
            chunk.append(self._take())
        return chunk

    def _peek(self) -> np.ndarray:
        if not hasattr(self, "_lookahead"):
            self._lookahead = next(self.batches)
        return self._lookahead

    def _take(self) -> np.ndarray:
        batch = self._peek()
        del self._lookahead
        return batch

    def _accumulate(self, result, steps: int, indices) -> None:
        window = self._window
        window[0] += result.loss_sum
        window[1] += result.correct
        window[2] += steps
        window[3] += sum(len(b) for b in indices)
        window[4] = window[4] or result.first_nonfinite >= 0

    def _window_means(self) -> tuple[float, float]:
        loss_sum, correct, steps, examples, _ = self._window
        return (loss_sum / steps if steps else math.nan,
                correct / examples if examples else math.nan)

    # -- boundaries ----------------------------------------------------------------------
    def _at_boundary(self) -> None:
        if self._pending_update and self._pending_update[0] + 1 == self.step:
            self._timed(self._record_update)
        if self.step in self.probes:
            self._timed(self._probe)
        if self.step in self.evals:
            self._evaluate()

    def _timed(self, action) -> None:
        start = time.perf_counter()
        action()
        self.outcome.telemetry_seconds += time.perf_counter() - start

    def _probe(self) -> None:
        weights = self.stepper.weights()
        probe = self.stepper.probe(self.probe_x, self.probe_y)
        self.folder.write_telemetry(telemetry.probe_rows(self.step, self.config, probe, weights))
        self._pending_update = (self.step, weights)

    def _record_update(self) -> None:
        step, before = self._pending_update
        rows = telemetry.update_rows(step, self.config, before, self.stepper.weights())
        self.folder.write_telemetry(rows)
        self._pending_update = None

    def _evaluate(self) -> None:
        test = self.stepper.evaluate(self.data.x_test, self.data.y_test)
        if self.step == 0:
            subset = slice(0, TRAIN_EVAL_EXAMPLES)
            train = self.stepper.evaluate(self.data.x_train[subset], self.data.y_train[subset])
            train_loss, train_accuracy = train.loss, train.accuracy
        else:
            train_loss, train_accuracy = self._window_means()
        nan = self._window[4]
        self.folder.metrics.write([(round(self._epochs(self.step), 4), self.step, train_loss,
                                    train_accuracy, test.loss, test.accuracy,
                                    round(time.perf_counter() - self.started, 3), int(nan))])
        if self.doctor:
            self.folder.write_telemetry(telemetry.prediction_rows(self.step, test.class_counts))
        self.best_test_accuracy = max(self.best_test_accuracy, test.accuracy)
        self.outcome.final = {"train_loss": train_loss, "train_accuracy": train_accuracy,
                              "test_loss": test.loss, "test_accuracy": test.accuracy,
                              "best_test_accuracy": self.best_test_accuracy}
        self._window = [0.0, 0.0, 0, 0, False]

    def _epochs(self, step: int) -> float:
        return step * self.config.train.batch_size / self.train_size

    # -- divergence ----------------------------------------------------------------------
    def _diverged(self, index_in_chunk: int, indices, snapshot) -> None:
        self.step += len(indices)
        first = self.step - len(indices) + index_in_chunk + 1
        self.outcome.status = "diverged"
        self.outcome.first_nan_step = first
        self.outcome.first_nan_epoch = round(self._epochs(first), 4)
        self._evaluate()
        if self.doctor:
            self._timed(lambda: self._localise(first, index_in_chunk, indices, snapshot))

    def _localise(self, first: int, index_in_chunk: int, indices, snapshot) -> None:
        """Replay the chunk up to the failing batch and probe that batch."""
        self.stepper.restore(snapshot)
        if index_in_chunk:
            self.stepper.run(_padded(indices[:index_in_chunk]), index_in_chunk)
        failing = indices[index_in_chunk]
        probe = self.stepper.probe(self.data.x_train[failing], self.data.y_train[failing])
        rows = telemetry.probe_rows(first, self.config, probe, self.stepper.weights())
        self.folder.write_telemetry(rows)
        self.outcome.first_nonfinite_layer = telemetry.first_nonfinite_layer(rows)


def _padded(indices: list[np.ndarray]) -> np.ndarray:
    """A (STEPS_PER_CALL, batch) index array, so every chunk reuses one compiled function."""
    out = np.zeros((STEPS_PER_CALL, len(indices[0])), dtype=np.int32)
    out[: len(indices)] = np.stack(indices)
    return out
