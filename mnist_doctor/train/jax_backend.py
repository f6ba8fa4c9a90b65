"""The JAX-specific piece: the same Stepper as backend_tensorflow.py, on Keras's stateless API.

The model's and the optimiser's state live here as a tuple of immutable JAX arrays
(trainable, non-trainable, optimiser variables) threaded through `model.stateless_call` and
`optimizer.stateless_apply`; the Keras variables keep their initial values. One jitted call
runs up to `steps_per_call` updates in a `lax.fori_loop` whose trip count is a traced argument, so
every chunk length reuses one compiled program. The training data is put on the device once and
batches are gathered by index inside the loop. Because the arrays are immutable, `snapshot` is
free (it keeps references) and `restore` just puts them back.

With `jit=False` (the fallback when compilation fails) updates run one at a time, op by op.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np

from mnist_doctor.model.metrics import correct_count, predicted_classes
from mnist_doctor.train.stepper import (
    Backend,
    ChunkResult,
    EvalResult,
    ProbeResult,
    variable_keys,
)

EVAL_BATCH = 1000
RESIDENT_CACHE = 8  # evaluation/probe inputs kept on the device between calls (test set, ...)


class Stepper:
    """Runs optimiser updates on a built Keras model with resident training data."""

    def __init__(self, model, optimizer, loss_fn, reduction, x_train, y_train, *, jit=True,
                 steps_per_call: int, perturb=None):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.perturb = perturb
        self.sum_reduction = reduction == "sum"
        self.optimizer.build(model.trainable_variables)
        self.x_train, self.y_train = jnp.asarray(x_train), jnp.asarray(y_train)
        self.state = ([v.value for v in model.trainable_variables],
                      [v.value for v in model.non_trainable_variables],
                      [v.value for v in optimizer.variables])
        self._iterations_at = next(i for i, v in enumerate(optimizer.variables)
                                   if v is optimizer.iterations)
        self.jit, self.steps_per_call = jit, steps_per_call
        self.path = "xla-chunks" if jit else "eager-steps"
        self.notes = {"matmul_precision": jax.config.jax_default_matmul_precision or "default"}
        self._keys = variable_keys(model)
        self._resident: dict[int, tuple[np.ndarray, jax.Array]] = {}
        self._chunk = jax.jit(self._chunk_fn) if jit else None
        self._evaluate = jax.jit(self._evaluate_fn) if jit else self._evaluate_fn
        self._probe = jax.jit(self._probe_fn) if jit else self._probe_fn

    def warm_up(self, batch_sizes) -> None:
        """Compile the training loop for each batch shape without changing any state."""
        for size in batch_sizes:
            self.run(np.zeros((self.steps_per_call, size), np.int32), 0)

    # -- training ------------------------------------------------------------------------
    def _mean_loss(self, per_example):
        return jnp.sum(per_example) if self.sum_reduction else jnp.mean(per_example)

    def _loss(self, trainable, non_trainable, x, y):
        y_pred, non_trainable = self.model.stateless_call(trainable, non_trainable, x,
                                                          training=True)
        per_example = self.loss_fn(y, y_pred)
        return self._mean_loss(per_example), (jnp.mean(per_example), y_pred, non_trainable)

    def _one_step(self, state, x, y):
        trainable, non_trainable, optimizer_state = state
        (_, (loss, y_pred, non_trainable)), grads = jax.value_and_grad(
            self._loss, has_aux=True)(trainable, non_trainable, x, y)
        if self.perturb is not None:
            grads = self.perturb(grads, optimizer_state[self._iterations_at])
        trainable, optimizer_state = self.optimizer.stateless_apply(optimizer_state, grads,
                                                                    trainable)
        return (trainable, non_trainable, optimizer_state), loss, correct_count(y, y_pred)

    def _chunk_fn(self, state, x_train, y_train, indices, count):
        def body(i, carry):
            state, loss_sum, correct_sum, first_bad = carry
            batch = indices[i]
            state, loss, correct = self._one_step(state, x_train[batch], y_train[batch])
            first_bad = jnp.where((first_bad < 0) & ~jnp.isfinite(loss), i, first_bad)
            return state, loss_sum + loss, correct_sum + correct, first_bad

        start = (state, jnp.float32(0.0), jnp.float32(0.0), jnp.int32(-1))
        return jax.lax.fori_loop(0, count, body, start)

    def run(self, indices: np.ndarray, count: int) -> ChunkResult:
        """Run `count` updates, batch i made of training rows indices[i]."""
        if self._chunk is not None:
            self.state, *sums = self._chunk(self.state, self.x_train, self.y_train,
                                            jnp.asarray(indices), np.int32(count))
        else:
            sums = self._eager_steps(indices, count)
        loss_sum, correct, first_bad = jax.device_get(sums)
        return ChunkResult(float(loss_sum), float(correct), int(first_bad))

    def _eager_steps(self, indices, count):
        loss_sum, correct_sum, first_bad = 0.0, 0.0, -1
        for i in range(count):
            self.state, loss, correct = self._one_step(
                self.state, self.x_train[indices[i]], self.y_train[indices[i]])
            loss_sum, correct_sum = loss_sum + loss, correct_sum + correct
            if first_bad < 0 and not np.isfinite(float(loss)):
                first_bad = i
        return loss_sum, correct_sum, first_bad

    # -- evaluation ----------------------------------------------------------------------
    def _evaluate_fn(self, trainable, non_trainable, x, y, valid):
        y_pred, _ = self.model.stateless_call(trainable, non_trainable, x, training=False)
        keep = jnp.arange(x.shape[0]) < valid  # the last batch is padded to EVAL_BATCH rows
        predicted = predicted_classes(y_pred)
        correct = jnp.sum(keep & (predicted == jnp.argmax(y, -1))).astype(jnp.float32)
        counts = jnp.sum(jax.nn.one_hot(predicted, 10, dtype=jnp.int32) * keep[:, None], axis=0)
        return jnp.sum(jnp.where(keep, self.loss_fn(y, y_pred), 0.0)), correct, counts

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> EvalResult:
        x_all, y_all = self._on_device(x), self._on_device(y)
        trainable, non_trainable, _ = self.state
        parts = []
        for start in range(0, len(x), EVAL_BATCH):
            valid = min(EVAL_BATCH, len(x) - start)
            xb, yb = x_all[start:start + valid], y_all[start:start + valid]
            if valid < EVAL_BATCH:
                xb, yb = _pad_rows(xb, EVAL_BATCH), _pad_rows(yb, EVAL_BATCH)
            parts.append(self._evaluate(trainable, non_trainable, xb, yb, np.int32(valid)))
        losses, corrects, counts = zip(*jax.device_get(parts), strict=True)
        return EvalResult(float(np.sum(losses)) / len(x), float(np.sum(corrects)) / len(x),
                          np.sum(counts, axis=0).astype(np.int64))

    # -- telemetry -----------------------------------------------------------------------
    def _probe_fn(self, trainable, non_trainable, x, y):
        model = self.model

        def loss_with_outputs(trainable):
            mapping = [*zip(model.trainable_variables, trainable, strict=True),
                       *zip(model.non_trainable_variables, non_trainable, strict=True)]
            with keras.StatelessScope(state_mapping=mapping):
                outputs, h = [], x
                for layer in model.layers:
                    h = layer(h, training=False)
                    outputs.append(h)
                per_example = self.loss_fn(y, h)
            return self._mean_loss(per_example), (jnp.mean(per_example), outputs)

        grads, (loss, outputs) = jax.grad(loss_with_outputs, has_aux=True)(trainable)
        return loss, outputs, grads

    def probe(self, x: np.ndarray, y: np.ndarray) -> ProbeResult:
        """Loss, every layer's output and every trainable variable's gradient on one batch."""
        trainable, non_trainable, _ = self.state
        loss, outputs, grads = jax.device_get(
            self._probe(trainable, non_trainable, self._on_device(x), self._on_device(y)))
        return ProbeResult(
            loss=float(loss),
            outputs={layer.name: np.asarray(out)
                     for layer, out in zip(self.model.layers, outputs, strict=True)},
            grads={key: np.asarray(g) for key, g in zip(self._keys, grads, strict=True)},
        )

    # -- state ---------------------------------------------------------------------------
    def weights(self) -> dict[str, np.ndarray]:
        values = jax.device_get(self.state[0])
        return {key: np.asarray(v) for key, v in zip(self._keys, values, strict=True)}

    def snapshot(self):
        """Everything an update changes (weights, optimiser slots, RNG state). JAX arrays
        are immutable, so keeping the references is the snapshot."""
        return self.state

    def restore(self, snapshot) -> None:
        self.state = snapshot

    def _on_device(self, array: np.ndarray) -> jax.Array:
        """The device copy of an input array, kept for arrays passed again (the test set)."""
        cached = self._resident.get(id(array))
        if cached is not None and cached[0] is array:
            return cached[1]
        if len(self._resident) >= RESIDENT_CACHE:
            self._resident.pop(next(iter(self._resident)))
        self._resident[id(array)] = (array, jnp.asarray(array))
        return self._resident[id(array)][1]


def _pad_rows(array: jax.Array, rows: int) -> jax.Array:
    return jnp.pad(array, [(0, rows - array.shape[0])] + [(0, 0)] * (array.ndim - 1))


def compile_choice(config) -> tuple[bool, str | None]:
    """Always XLA: JAX has no faster path (without it every op is dispatched on its own)."""
    return True, None


def configure_device(device: str) -> str:
    """Honour --device before any array is placed; return a description for run.json."""
    if device == "cpu":
        chosen = jax.devices("cpu")[0]
    elif device == "gpu":
        try:
            chosen = jax.devices("gpu")[0]
        except RuntimeError as err:
            raise RuntimeError("--device gpu: JAX sees no GPU on this machine (a CUDA build "
                               "of JAX is needed: pip install 'jax[cuda12]')") from err
    else:
        chosen = jax.devices()[0]
    jax.config.update("jax_default_device", chosen)
    if chosen.platform != "gpu":
        return "CPU"
    # float32 matrix products and convolutions in full float32, as on a CPU: by default GPUs
    # may round their inputs to TF32 (10-bit mantissa), which shifts where things underflow.
    jax.config.update("jax_default_matmul_precision", "highest")
    return f"GPU:{chosen.id} ({chosen.device_kind})"


def limit_threads(threads: int) -> None:
    """Nothing to do: XLA's thread pool is sized by XLA_FLAGS before JAX is imported."""


BACKEND = Backend("jax", Stepper, compile_choice, configure_device, limit_threads)
