"""The losses a config can name, computed by mnist-doctor itself, identically on every backend.

Each loss is a plain function of backend-neutral `keras.ops` on the model's output exactly as
given: per-example values of shape (batch,), the batch reduction (`loss_reduction`) is applied
by training. None goes through a Keras loss: Keras 3's `categorical_crossentropy` on the
TensorFlow backend looks at how its input was made and, for a softmax or sigmoid layer's output,
silently swaps in that layer's logits, while on JAX it clips the probabilities. The same config
then learned on one backend and stuck at chance on the other (raw pixels, softmax output).

Cross-entropy comes in two named semantics, each the code of an era:
- `crossentropy`: probabilities renormalised and clipped (Keras 2, TF1 `clip_by_value` idiom).
- `logits_crossentropy`: the stable softmax cross-entropy on logits (TF's
  `softmax_cross_entropy_with_logits`, Keras `from_logits=True`, PyTorch `CrossEntropyLoss`).
"""

from __future__ import annotations

from keras import ops

from mnist_doctor.config import ExperimentConfig

# Keras 2's backend epsilon: the clip bound of its categorical_crossentropy.
KERAS2_EPSILON = 1e-7


def naive_log(y_true, y_pred, epsilon: float = 0.0):
    """-sum(y * log(p + epsilon)) literally, as forum code of every era writes it
    (`-tf.reduce_sum(y_ * tf.log(y))`, the TF1 tutorials). No clipping: a probability that
    underflows to 0 gives log(0) = -inf, and 0 * -inf = nan."""
    return -ops.sum(y_true * ops.log(y_pred + epsilon), axis=-1)


def crossentropy(y_true, y_pred):
    """Categorical cross-entropy on probabilities, as Keras 2 (2015-2019, every backend) and
    the TF1 idiom `-sum(y * log(clip_by_value(p, 1e-7, 1 - 1e-7)))` computed it: the outputs
    are renormalised to sum to 1, clipped to [1e-7, 1 - 1e-7], then -sum(y * log(p)).

    Never inf or nan for outputs that are positive, but where a saturated softmax is clipped the
    gradient is exactly 0: the raw-pixel MLPs of the Keras 2 threads stick near chance."""
    p = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
    p = ops.clip(p, KERAS2_EPSILON, 1.0 - KERAS2_EPSILON)
    return -ops.sum(y_true * ops.log(p), axis=-1)


def logits_crossentropy(y_true, logits):
    """Softmax cross-entropy on logits, -sum(y * log_softmax(z)), stable for any logits: the
    gradient with respect to z is softmax(z) - y and never vanishes. What
    `tf.nn.softmax_cross_entropy_with_logits` (TF1 onwards) and Keras's `from_logits=True`
    compute; Keras 3 on TensorFlow also silently computes this for a softmax last layer."""
    return -ops.sum(y_true * ops.log_softmax(logits, axis=-1), axis=-1)


def mse(y_true, y_pred):
    """Mean squared error against the one-hot labels, averaged over the 10 classes
    (Keras's `mean_squared_error`, Nielsen's quadratic cost up to a factor)."""
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def make_loss(config: ExperimentConfig):
    """The config's per-example loss(y_true, y_pred) -> shape (batch,)."""
    if config.loss == "custom":
        raise ValueError("loss: custom records a user's own loss function (mnist_doctor.Doctor); "
                         "it cannot be trained from the config")
    if config.loss == "naive_log":
        epsilon = config.loss_epsilon
        return lambda y_true, y_pred: naive_log(y_true, y_pred, epsilon)
    return {"crossentropy": crossentropy, "logits_crossentropy": logits_crossentropy,
            "mse": mse}[config.loss]
