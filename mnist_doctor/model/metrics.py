"""The predicted class, computed the same way on every backend (accuracy and class counts).

argmax over outputs that hold NaN differs by backend: TensorFlow 2's picks the last class (a
diverged net "predicts" 9 everywhere: 0.1009 on MNIST's test set), JAX's the first NaN, TF1's
the first class (the 0.098 that 2016-2018 threads report for a NaN net). Here a NaN output is
never the largest, so a row that is all NaN predicts class 0, as in those threads.
"""

from __future__ import annotations

from keras import ops


def predicted_classes(y_pred):
    """Each row's class (int32): argmax with NaN counted as -inf, ties to the lowest index."""
    return ops.argmax(ops.where(ops.isnan(y_pred), float("-inf"), y_pred), axis=-1)


def correct_count(y_true, y_pred):
    """How many rows' predicted class is the one-hot label's, as float32."""
    hits = ops.equal(predicted_classes(y_pred), ops.argmax(y_true, axis=-1))
    return ops.sum(ops.cast(hits, "float32"))
