"""What `model.fit` received, as the callback sees it, and measurements on it.

Keras hands callbacks no data, so the callback reads the arguments of the running `fit` call
from its frame (x, y, validation_data after any validation_split, batch_size), unless the user
passed them to `Doctor(...)`. Only NumPy arrays (or what converts to them) are supported: a
tf.data pipeline or a generator cannot be re-read without changing what training sees.
Assumptions: classification, labels one-hot (N, classes) or integers (N,), outputs (N, classes).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import numpy as np

EVAL_BATCH = 1000


@dataclass
class FitData:
    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    batch_size: int


def fit_arguments(model) -> dict:
    """The locals of the `fit` call of `model` that is running now (empty if none is found)."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
                return dict(frame.f_locals)
            frame = frame.f_back
        return {}
    finally:
        del frame


def fit_data(model, x=None, y=None, validation_data=None, batch_size=None) -> FitData:
    found = fit_arguments(model) if x is None else {}
    x = found.get("x") if x is None else x
    y = found.get("y") if y is None else y
    validation = validation_data if validation_data is not None \
        else found.get("validation_data")
    if x is None or y is None or _is_pipeline(x):
        raise ValueError("Doctor needs the training data as arrays: call model.fit(x, y, ...) "
                         "with NumPy arrays, or pass Doctor(..., x=..., y=...)")
    x_val = y_val = None
    if validation is not None and not _is_pipeline(validation):
        x_val, y_val = _as_keras_feeds(validation[0]), _as_keras_feeds(validation[1])
    return FitData(_as_keras_feeds(x), _as_keras_feeds(y), x_val, y_val,
                   int(batch_size or found.get("batch_size") or 32))


def _as_keras_feeds(array) -> np.ndarray:
    """As fit feeds it to the model and the loss: floating point as float32."""
    array = np.asarray(array)
    return array.astype("float32") if array.dtype.kind == "f" else array


def _is_pipeline(value) -> bool:
    return not isinstance(value, (np.ndarray, list, tuple)) and not hasattr(value, "__array__")


def class_labels(y: np.ndarray) -> np.ndarray:
    """Integer class per example from one-hot (N, C) or integer (N,) / (N, 1) labels."""
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] > 1:
        return np.argmax(y, axis=-1)
    return y.reshape(len(y)).astype(np.int64)


def chance_accuracy(y: np.ndarray, classes: int) -> float:
    """The accuracy of always answering the most common class of these labels."""
    counts = np.bincount(class_labels(y), minlength=classes)
    return float(counts.max() / max(counts.sum(), 1))


@dataclass
class Evaluation:
    loss: float
    accuracy: float
    class_counts: np.ndarray


def evaluate(model, batch_loss, x: np.ndarray, y: np.ndarray, batch_size: int,
             classes: int) -> Evaluation:
    """Mean batch loss (as Keras reduces it), accuracy and predicted-class counts, inference
    mode, in batches of `batch_size` (a summed loss depends on it)."""
    losses, weights, correct = [], [], 0
    counts = np.zeros(classes, dtype=np.int64)
    labels = class_labels(y)
    for start in range(0, len(x), batch_size):
        part = slice(start, start + batch_size)
        predicted = model(x[part], training=False)
        losses.append(float(batch_loss(y[part], predicted)))
        weights.append(len(x[part]))
        guess = np.argmax(np.asarray(predicted), axis=-1)
        correct += int(np.sum(guess == labels[part]))
        counts += np.bincount(guess, minlength=classes)[:classes]
    loss = float(np.average(losses, weights=weights)) if losses else math.nan
    return Evaluation(loss, correct / max(len(x), 1), counts)
