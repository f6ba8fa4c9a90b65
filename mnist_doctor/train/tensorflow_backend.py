"""The TensorFlow-specific piece: compiled multi-step training, evaluation and the probe.

Why not `model.fit`: on 2 CPU cores a plain `fit` spends most of its time in per-step Python and
tf.data overhead (about 1.3 s per MNIST epoch at batch 100 for a 784-100-10 MLP), and each
`fit` call costs ~50 ms, which rules out stopping at exact steps for evaluation and telemetry.
Here the data lives on the device once, batches are gathered by index inside one XLA-compiled
loop of up to `steps_per_call` updates (about 0.2 s per epoch), and the loop reports each
chunk's loss sum, correct count and the first non-finite loss exactly.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mnist_doctor.model.metrics import correct_count, predicted_classes
from mnist_doctor.train.stepper import (
    Backend,
    ChunkResult,
    EvalResult,
    ProbeResult,
    variable_keys,
)

EVAL_BATCH = 1000
# Optimizer features that optimizer.apply handles and _apply does not (attribute names).
PLAIN_UPDATE_BLOCKERS = {"use_ema", "gradient_accumulation_steps", "weight_decay", "clipnorm",
                         "clipvalue", "global_clipnorm", "loss_scale_factor"}


class Stepper:
    """Runs optimiser updates on a built Keras model with resident training data."""

    def __init__(self, model, optimizer, loss_fn, reduction, x_train, y_train, *, jit=True,
                 steps_per_call: int, perturb=None):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.perturb = perturb
        self.sum_reduction = reduction == "sum"
        self.optimizer.build(model.trainable_variables)
        self.x_train = tf.constant(x_train)
        self.y_train = tf.constant(y_train)
        self.jit, self.steps_per_call = jit, steps_per_call
        self.path = "xla-chunks" if jit else "graph-chunks"
        self.notes: dict = {}
        self._keys = variable_keys(model)
        self._chunk = tf.function(self._chunk_fn, jit_compile=jit, autograph=False)
        self._evaluate = tf.function(self._evaluate_fn, jit_compile=jit)
        self._probe = tf.function(self._probe_fn)

    def warm_up(self, batch_sizes) -> None:
        """Compile the training loop for each batch shape without changing any state."""
        for size in batch_sizes:
            self.run(np.zeros((self.steps_per_call, size), np.int32), 0)

    # -- training ------------------------------------------------------------------------
    def _one_step(self, x, y):
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            per_example = self.loss_fn(y, y_pred)
            loss = tf.reduce_sum(per_example) if self.sum_reduction else tf.reduce_mean(per_example)
        grads = tape.gradient(loss, self.model.trainable_variables)
        if self.perturb is not None:
            grads = self.perturb(grads, self.optimizer.iterations)
        self._apply(grads)
        return tf.reduce_mean(per_example), correct_count(y, y_pred)

    def _apply(self, grads) -> None:
        """optimizer.apply without its tf.distribute path, which kept every traced training
        graph (~10 MB, plus every tensor it captured) alive after the run, so memory grew
        through a sweep. With no distribution strategy, EMA, clipping, weight decay or gradient
        accumulation (mnist-doctor configures none) apply() comes down to exactly this."""
        optimizer, variables = self.optimizer, self.model.trainable_variables
        if any(getattr(optimizer, name, None) for name in PLAIN_UPDATE_BLOCKERS):
            optimizer.apply(grads, variables)
            return
        learning_rate = optimizer.learning_rate
        for grad, variable in zip(grads, variables, strict=True):
            if grad is not None:
                optimizer.update_step(grad, variable, learning_rate)
        optimizer.iterations.assign_add(1)

    def _chunk_fn(self, x_train, y_train, indices, count):
        # An explicit while_loop, not `for i in tf.range(count)`: XLA needs the range's shape
        # at compile time, so that form recompiled (~1.5 s) for every new count. The data is an
        # argument, not a captured tensor: TensorFlow keeps the traced loop's graphs (and what
        # they capture) after the Stepper is gone, which leaked the data set once per run.
        def body(i, loss_sum, correct_sum, first_bad):
            batch = indices[i]
            loss, correct = self._one_step(tf.gather(x_train, batch), tf.gather(y_train, batch))
            first_bad = tf.where((first_bad < 0) & ~tf.math.is_finite(loss), i, first_bad)
            return i + 1, loss_sum + loss, correct_sum + correct, first_bad

        start = (tf.constant(0), tf.constant(0.0), tf.constant(0.0), tf.constant(-1))
        _, loss_sum, correct_sum, first_bad = tf.while_loop(
            lambda i, *_: i < count, body, start, maximum_iterations=tf.shape(indices)[0])
        return loss_sum, correct_sum, first_bad

    def run(self, indices: np.ndarray, count: int) -> ChunkResult:
        """Run `count` updates, batch i made of training rows indices[i]."""
        loss_sum, correct, first_bad = self._chunk(self.x_train, self.y_train,
                                                   tf.constant(indices), tf.constant(count))
        return ChunkResult(float(loss_sum), float(correct), int(first_bad))

    # -- evaluation ----------------------------------------------------------------------
    def _evaluate_fn(self, x, y):
        y_pred = self.model(x, training=False)
        counts = tf.reduce_sum(tf.one_hot(predicted_classes(y_pred), 10, dtype=tf.int32), axis=0)
        return tf.reduce_sum(self.loss_fn(y, y_pred)), correct_count(y, y_pred), counts

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> EvalResult:
        loss_sum, correct, counts = 0.0, 0.0, np.zeros(10, dtype=np.int64)
        for start in range(0, len(x), EVAL_BATCH):
            part_loss, part_correct, part_counts = self._evaluate(
                tf.constant(x[start:start + EVAL_BATCH]), tf.constant(y[start:start + EVAL_BATCH]))
            loss_sum += float(part_loss)
            correct += float(part_correct)
            counts += part_counts.numpy()
        return EvalResult(loss_sum / len(x), correct / len(x), counts)

    # -- telemetry -----------------------------------------------------------------------
    def _probe_fn(self, x, y):
        outputs = []
        with tf.GradientTape() as tape:
            h = x
            for layer in self.model.layers:
                h = layer(h, training=False)
                outputs.append(h)
            per_example = self.loss_fn(y, h)
            loss = tf.reduce_sum(per_example) if self.sum_reduction else tf.reduce_mean(per_example)
        grads = tape.gradient(loss, self.model.trainable_variables)
        return tf.reduce_mean(per_example), outputs, grads

    def probe(self, x: np.ndarray, y: np.ndarray) -> ProbeResult:
        """Loss, every layer's output and every trainable variable's gradient on one batch."""
        loss, outputs, grads = self._probe(tf.constant(x), tf.constant(y))
        return ProbeResult(
            loss=float(loss),
            outputs={layer.name: out.numpy()
                     for layer, out in zip(self.model.layers, outputs, strict=True)},
            grads={key: g.numpy() for key, g in zip(self._keys, grads, strict=True)},
        )

    # -- state ---------------------------------------------------------------------------
    def weights(self) -> dict[str, np.ndarray]:
        return {key: v.numpy()
                for key, v in zip(self._keys, self.model.trainable_variables, strict=True)}

    def snapshot(self) -> list[np.ndarray]:
        """Everything an update changes (weights, optimiser slots), to replay a failing chunk."""
        return [v.numpy() for v in self._state_variables()]

    def restore(self, snapshot: list[np.ndarray]) -> None:
        for variable, value in zip(self._state_variables(), snapshot, strict=True):
            variable.assign(value)

    def _state_variables(self):
        return list(self.model.variables) + list(self.optimizer.variables)


def compile_choice(config) -> tuple[bool, str | None]:
    """XLA unless the model convolves on a CPU: XLA's CPU convolutions ran ~14x slower than
    TensorFlow's own (oneDNN) kernels here (0.9 s against 65 ms per step of the batch-50 CNN),
    which is also why Keras itself does not use XLA on a CPU by default."""
    convolves = any(layer.type == "conv2d" for layer in config.layers)
    if convolves and not tf.config.get_visible_devices("GPU"):
        return False, "convolutions on a CPU: TensorFlow's kernels beat XLA's"
    return True, None


def configure_device(device: str) -> str:
    """Honour --device before any op runs; return a description for run.json."""
    gpus = tf.config.list_physical_devices("GPU")
    if device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
        gpus = []
    if device == "gpu" and not gpus:
        raise RuntimeError("--device gpu: TensorFlow sees no GPU on this machine")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU:0 ({details.get('device_name', 'unknown')})"
    return "CPU"


def limit_threads(threads: int) -> None:
    """TensorFlow's own thread pools; the environment variables alone do not size them."""
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


BACKEND = Backend("tensorflow", Stepper, compile_choice, configure_device, limit_threads)
