"""One run trained on its exact schedule (schedule.py) through a backend's `Stepper`.

Training runs in compiled chunks
between "boundaries": evaluation steps, probe steps and the step after each probe (to measure
one real update). A non-finite loss stops the run at exactly that step: the chunk is replayed
from its snapshot up to the failing batch, which is probed to find the first layer that went
non-finite, and the last row is recorded at the failing step, the doctor on or off.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from mnist_doctor.data.mnist import Prepared
from mnist_doctor.runs.folder import RunFolder
from mnist_doctor.train import telemetry
from mnist_doctor.train.schedule import (
    PROBE_EXAMPLES,
    PROBE_EXAMPLES_CONV,
    STEPS_PER_CALL,
    TRAIN_EVAL_EXAMPLES,
    batch_stream,
    eval_steps,
    padded,
    probe_steps,
    total_steps,
)
from mnist_doctor.train.stepper import ChunkResult, Stepper
from mnist_doctor.vocabulary import RunStatus


@dataclass
class Window:
    """What the updates since the last evaluation add up to: the train loss and accuracy of
    the next metrics row are their means."""

    loss_sum: float = 0.0
    correct: float = 0.0
    steps: int = 0
    examples: int = 0
    nonfinite: bool = False

    def add(self, result: ChunkResult, indices: list[np.ndarray]) -> None:
        self.loss_sum += result.loss_sum
        self.correct += result.correct
        self.steps += len(indices)
        self.examples += sum(len(batch) for batch in indices)
        self.nonfinite = self.nonfinite or result.first_nonfinite >= 0

    def means(self) -> tuple[float, float]:
        """(mean loss per update, accuracy over the examples seen)."""
        return (self.loss_sum / self.steps if self.steps else math.nan,
                self.correct / self.examples if self.examples else math.nan)


@dataclass
class Outcome:
    status: str = RunStatus.COMPLETED
    steps_completed: int = 0
    epochs_completed: float = 0.0
    first_nan_step: int | None = None
    first_nan_epoch: float | None = None
    first_nonfinite_layer: str | None = None
    final: dict = field(default_factory=dict)
    telemetry_seconds: float = 0.0
    execution: dict = field(default_factory=dict)


class Trainer:
    """Drives a backend Stepper through one run's schedule, writing rows as it goes."""

    def __init__(self, config, data: Prepared, folder: RunFolder, stepper: Stepper, *, doctor=True,
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
        self.window = Window()
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
            snapshot = self.stepper.snapshot()  # doctor or not: a NaN is replayed exactly
            result = self.stepper.run(padded(indices), len(indices))
            if result.first_nonfinite >= 0:
                self._diverged(result.first_nonfinite, indices, snapshot)
                return False
            self.window.add(result, indices)
            self.step += len(indices)
            self.progress(self.step, self.total, *self.window.means())
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
        if self.step == 0 or self.window.nonfinite:
            # after a NaN the window's running accuracy counts NaN outputs as wrong (0.0000)
            # while the test set's argmax finds a class; measure both the same way
            subset = slice(0, TRAIN_EVAL_EXAMPLES)
            train = self.stepper.evaluate(self.data.x_train[subset], self.data.y_train[subset])
            train_loss, train_accuracy = train.loss, train.accuracy
        else:
            train_loss, train_accuracy = self.window.means()
        nan = self.window.nonfinite
        self.folder.write_metrics([(round(self._epochs(self.step), 4), self.step, train_loss,
                                    train_accuracy, test.loss, test.accuracy,
                                    round(time.perf_counter() - self.started, 3), int(nan))])
        if self.doctor:
            self.folder.write_telemetry(telemetry.prediction_rows(self.step, test.class_counts))
        self.best_test_accuracy = max(self.best_test_accuracy, test.accuracy)
        self.outcome.final = {"train_loss": train_loss, "train_accuracy": train_accuracy,
                              "test_loss": test.loss, "test_accuracy": test.accuracy,
                              "best_test_accuracy": self.best_test_accuracy}
        self.window = Window()

    def _epochs(self, step: int) -> float:
        return step * self.config.train.batch_size / self.train_size

    # -- divergence ----------------------------------------------------------------------
    def _diverged(self, index_in_chunk: int, indices, snapshot) -> None:
        """Stop at exactly the first non-finite step, whatever the chunk or probe boundaries
        (so with or without the doctor): replay the chunk from its snapshot up to the failing
        batch, probe that batch to find where the non-finite value first appears, run the
        failing update, and record the row at that step."""
        self.stepper.restore(snapshot)
        if index_in_chunk:
            self._replay(indices[:index_in_chunk])
        failing = indices[index_in_chunk]
        self._timed(lambda: self._localise(self.step + 1, failing))
        self._replay([failing])
        self.outcome.status = RunStatus.DIVERGED
        self.outcome.first_nan_step = self.step
        self.outcome.first_nan_epoch = round(self._epochs(self.step), 4)
        self._evaluate()

    def _replay(self, indices) -> None:
        self.window.add(self.stepper.run(padded(indices), len(indices)), indices)
        self.step += len(indices)

    def _localise(self, step: int, failing: np.ndarray) -> None:
        """Probe the failing batch on the weights it was fed to. The rows go to telemetry.csv
        only with the doctor on; first_nonfinite_layer is recorded either way."""
        probe = self.stepper.probe(self.data.x_train[failing], self.data.y_train[failing])
        rows = telemetry.probe_rows(step, self.config, probe, self.stepper.weights())
        self.folder.write_telemetry(rows)
        self.outcome.first_nonfinite_layer = telemetry.first_nonfinite_layer(rows)
