"""`Doctor`: the doctor as a Keras callback in the user's own `model.fit`.

`Doctor("runs/my-script")` treats its folder as `mnist-doctor run --out` does, an invocation
folder: each fit adds a run folder inside (named after the model, -2, -3 ... when taken) and
summary.csv lists them all, so `diagnose`, `show`, `report` and `tensorboard --logdir` work on
it. Each run folder is the one `mnist-doctor run` writes: config.yaml (the model described in the
config language, see describe.py), metrics.csv at step 0 and every epoch end, telemetry.csv
from probes on a fixed batch at the same steps (schedule.probe_steps) with the same metrics
(train/telemetry.py), TensorBoard events, run.json; at the end it diagnoses and prints the
findings. It never changes training: probes run the layers in inference mode on copies of the
numbers, touch no optimizer state and draw no random numbers. Probes need TensorFlow's
GradientTape; on another backend metrics, static rules and NaN detection still work.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np

from mnist_doctor.bridges.describe import describe
from mnist_doctor.bridges.fitdata import EVAL_BATCH, chance_accuracy, evaluate, fit_data
from mnist_doctor.doctor.diagnose import diagnose_run_dir, write_diagnosis
from mnist_doctor.runs.folder import RunFolder, now_iso, package_versions
from mnist_doctor.runs.layout import find_run_dirs
from mnist_doctor.runs.summary import row_from_folder, write_summary
from mnist_doctor.train import telemetry
from mnist_doctor.train.schedule import (
    PROBE_EXAMPLES,
    PROBE_EXAMPLES_CONV,
    TRAIN_EVAL_EXAMPLES,
    probe_steps,
)
from mnist_doctor.vocabulary import RunStatus

ACCURACY_KEYS = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy")
ASSUMPTIONS = ("classification: the last layer outputs one score per class; labels one-hot "
               "(N, classes) or integers (N,); training data given to fit as arrays; the model "
               "is a chain of layers (Sequential)")


class Doctor(keras.callbacks.Callback):
    """`model.fit(..., callbacks=[Doctor("runs/my-script")])` records a run folder in
    runs/my-script (named `name`, default the model's name) and prints the doctor's findings
    when training ends. `x`, `y`, `validation_data`: only if fit gets no arrays."""

    def __init__(self, out: str | Path, *, name: str | None = None, x=None, y=None,
                 validation_data=None, stop_on_nan: bool = True, locate_nan: bool = True,
                 verbose: bool = True):
        super().__init__()
        self.out, self.name, self.verbose = Path(out), name, verbose
        self.stop_on_nan, self.locate_nan = stop_on_nan, locate_nan
        self._given = {"x": x, "y": y, "validation_data": validation_data}
        self.folder: RunFolder | None = None
        self.findings: list = []

    # -- start -------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()
        self.data = fit_data(self.model, **self._given)
        steps, epochs = int(self.params.get("steps") or 1), int(self.params.get("epochs") or 1)
        self.description = describe(self.model, name=self.name or self.model.name, x=self.data.x,
                                    y=self.data.y, batch_size=self.data.batch_size,
                                    epochs=epochs)
        self.config = self.description.config
        if self.description.not_expressed:
            from dataclasses import replace

            self.config = replace(self.config, description=self.config.description
                                  + " Not expressed: " + "; ".join(
                                      self.description.not_expressed))
        self.classes = int(self.model.outputs[0].shape[-1]) if getattr(
            self.model, "outputs", None) else int(np.max(self.data.y) + 1)
        self.folder = RunFolder(self.out, self.config, telemetry=True)
        self.info = self._start_info(steps * epochs)
        self.step, self.steps_per_epoch, self.telemetry_seconds = 0, steps, 0.0
        self.probes = probe_steps(steps * epochs) if self._can_probe() else set()
        conv = any(layer.type == "conv2d" for layer in self.config.layers)
        size = PROBE_EXAMPLES_CONV if conv else PROBE_EXAMPLES
        self.probe_x, self.probe_y = self.data.x[:size], self.data.y[:size]
        self._pending = None
        self.best = -1.0
        subset = slice(0, TRAIN_EVAL_EXAMPLES)
        train = self._evaluate(self.data.x[subset], self.data.y[subset])
        self._write_row(0, train.loss, train.accuracy, logs=None)
        self._prober = None
        self._before = self._shadow() if self._needs_snapshot() else None
        self._probe_if_due()

    def _start_info(self, total: int) -> dict:
        evaluated_on = self.data.y_val if self.data.y_val is not None else self.data.y
        return {"name": self.config.name, "status": RunStatus.RUNNING, "seed": self.config.seed,
                "config_hash": self.config.config_hash(), "config_path": "",
                "recorded_by": "mnist_doctor.Doctor (Keras callback)",
                "backend": keras.backend.backend(), "device": "", "versions": package_versions(),
                "started_at": now_iso(), "train_size": len(self.data.x), "total_steps": total,
                "classes": self.classes,
                "chance_accuracy": chance_accuracy(evaluated_on, self.classes),
                "assumptions": ASSUMPTIONS,
                "not_expressed": self.description.not_expressed,
                "test_data": "validation_data" if self.data.y_val is not None
                else "the first 2000 training examples (fit got no validation_data)"}

    def _can_probe(self) -> bool:
        return keras.backend.backend() == "tensorflow"

    def _needs_snapshot(self) -> bool:
        """A copy of the weights before every update, to probe a NaN with the weights that
        made it (`locate_nan=False` saves its ~1-2 ms a step and probes the weights after)."""
        return self._can_probe() and self.locate_nan

    # -- every batch ---------------------------------------------------------------------
    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss) and self.info.get("first_nan_step") is None:
            self._diverged(logs)
            return
        if self._pending is not None and self._pending[0] + 1 == self.step:
            self._timed(self._record_update)
        self._probe_if_due()
        if self._before is not None:
            self._before.refresh()  # the weights the next update starts from

    def on_epoch_end(self, epoch, logs=None):
        if self.info.get("first_nan_step") is None:
            self._write_row(self.step, float((logs or {}).get("loss", math.nan)),
                            _first(logs, ACCURACY_KEYS), logs=logs)

    # -- end ---------------------------------------------------------------------------
    def on_train_end(self, logs=None):
        if self.folder is None:
            return
        if self.info["status"] == RunStatus.RUNNING:
            self.info["status"] = RunStatus.COMPLETED
        self.info.update(steps_completed=self.step,
                         epochs_completed=round(self.step / self.steps_per_epoch, 4),
                         telemetry_seconds=round(self.telemetry_seconds, 3),
                         wall_seconds=round(time.perf_counter() - self.started, 3))
        self.folder.close()
        self.folder.write_run_info(self.info)
        self.findings = diagnose_run_dir(self.folder.path)
        write_diagnosis(self.folder.path, self.findings)
        write_summary(self.out, [row for run_dir in find_run_dirs(self.out)
                                 if (row := row_from_folder(run_dir, self.out)) is not None])
        if self.verbose:
            from rich.console import Console

            from mnist_doctor.report.findings_view import findings_renderable

            Console().print(findings_renderable(str(self.folder.path), self.findings))

    # -- measurements --------------------------------------------------------------------
    def _evaluate(self, x, y):
        batch = self.data.batch_size if self.config.loss_reduction == "sum" else EVAL_BATCH
        return evaluate(self.model, self._batch_loss, x, y, batch, self.classes)

    def _write_row(self, step, train_loss, train_accuracy, logs, nan=False):
        test = self._evaluate(*self._test_data())
        logs = logs or {}
        test_loss = float(logs.get("val_loss", test.loss))
        test_accuracy = _first({k[4:]: v for k, v in logs.items() if k.startswith("val_")},
                               ACCURACY_KEYS, test.accuracy)
        self.folder.write_metrics([(round(step / self.steps_per_epoch, 4), step, train_loss,
                                    train_accuracy, test_loss, test_accuracy,
                                    round(time.perf_counter() - self.started, 3), int(nan))])
        self.folder.write_telemetry(telemetry.prediction_rows(step, test.class_counts))
        self.best = max(self.best, test_accuracy)
        self.info["final"] = {"train_loss": train_loss, "train_accuracy": train_accuracy,
                              "test_loss": test_loss, "test_accuracy": test_accuracy,
                              "best_test_accuracy": self.best}

    def _test_data(self):
        if self.data.x_val is not None:
            return self.data.x_val, self.data.y_val
        return self.data.x[:TRAIN_EVAL_EXAMPLES], self.data.y[:TRAIN_EVAL_EXAMPLES]

    def _batch_loss(self, y, y_pred):
        """The user's compiled loss on one batch, reduced as Keras reduces it."""
        loss = self.model.loss
        if isinstance(loss, keras.losses.Loss):
            return keras.ops.convert_to_numpy(loss(y, y_pred))
        function = keras.losses.get(loss) if isinstance(loss, str) else loss
        return keras.ops.convert_to_numpy(keras.ops.mean(function(y, y_pred)))

    def _timed(self, action) -> None:
        start = time.perf_counter()
        action()
        self.telemetry_seconds += time.perf_counter() - start

    # -- probes (TensorFlow) -----------------------------------------------------------
    def _probe_if_due(self):
        if self.step in self.probes:
            self._timed(self._probe_now)

    def _probe_now(self):
        weights = self._weights()
        self.folder.write_telemetry(telemetry.probe_rows(
            self.step, self.config, self._probe(self.probe_x, self.probe_y), weights))
        self._pending = (self.step, weights)

    def _record_update(self):
        step, before = self._pending
        self.folder.write_telemetry(telemetry.update_rows(step, self.config, before,
                                                          self._weights()))
        self._pending = None

    def _weights(self) -> dict[str, np.ndarray]:
        from mnist_doctor.bridges.probe import layer_weights

        return layer_weights(self.config, self.description.layers)

    def _snapshot(self) -> dict:
        from mnist_doctor.bridges.probe import layer_snapshot

        return layer_snapshot(self.config, self.description.layers)

    def _shadow(self):
        from mnist_doctor.bridges.probe import Shadow

        return Shadow(self.config, self.description.layers)

    def _probe(self, x, y):
        if self._prober is None:
            from mnist_doctor.bridges.probe import Prober

            self._prober = Prober(self.model, self.config, self.description.layers,
                                  self._batch_loss_tensor)
        return self._prober(x, y)

    def _batch_loss_tensor(self, y, y_pred):
        loss = self.model.loss
        if isinstance(loss, keras.losses.Loss):
            return loss(y, y_pred)
        function = keras.losses.get(loss) if isinstance(loss, str) else loss
        return keras.ops.mean(function(y, y_pred))

    # -- divergence ----------------------------------------------------------------------
    def _diverged(self, logs):
        self.info.update(status=RunStatus.DIVERGED, first_nan_step=self.step,
                         first_nan_epoch=round(self.step / self.steps_per_epoch, 4))
        self._write_row(self.step, float(logs.get("loss", math.nan)),
                        _first(logs, ACCURACY_KEYS), logs=None, nan=True)
        if self._can_probe():
            self._timed(self._localise)
        if self.stop_on_nan:
            self.model.stop_training = True

    def _localise(self):
        """Probe, with the weights the failing update started from, training examples whose
        numbers are non-finite (else the probe batch): the first layer that broke, or the loss."""
        from mnist_doctor.bridges.probe import as_numpy, failing_examples, restore

        after = self._snapshot()
        before = self._before.values() if self._before is not None else after
        restore(self.config, self.description.layers, before)
        rows_x, rows_y = failing_examples(self.model, self._batch_loss, self.data.x,
                                          self.data.y, self.data.batch_size)
        if rows_x is None:
            rows_x, rows_y = self.probe_x, self.probe_y
        rows = telemetry.probe_rows(self.step, self.config, self._probe(rows_x, rows_y),
                                    as_numpy(before))
        self.folder.write_telemetry(rows)
        self.info["first_nonfinite_layer"] = telemetry.first_nonfinite_layer(rows)
        restore(self.config, self.description.layers, after)


def _first(logs, keys, default=math.nan) -> float:
    for key in keys:
        if logs and key in logs:
            return float(logs[key])
    return float(default)
