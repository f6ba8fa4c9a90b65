"""`optimizer.gradient_jitter`: perturb every gradient by a rounding-sized amount each update.

A GPU that sums a gradient with atomic adds sums it in a different order each step, so two
units whose exact gradients are equal receive values that differ in the last bits, and the
difference is new every step. This imitates that on any device: each element g becomes
g * (1 + J * u), u uniform in [-1, 1], drawn by model/counter_random.py from (seed, variable,
update count) so both backends draw the same u. Relative noise is the floor of such rounding
(a sum of terms of mixed sign can round by more), which is what makes it a fair test of
whether rounding alone can break a symmetric net's tie.
"""

from __future__ import annotations

from mnist_doctor.model.counter_random import mix_key, uniform

GRADIENT_PURPOSE = 2  # apart from dropout's key (model/dropout.py) for the same seed


def jitter_gradients(grads, jitter: float, seed: int, step, chosen: list[bool]):
    """Each chosen gradient times (1 + jitter * u); `step` (a scalar tensor, the optimiser's
    update count) makes each update's draw fresh."""
    return [grad * (1.0 + jitter * (2.0 * uniform(grad.shape, mix_key(seed, i, GRADIENT_PURPOSE),
                                                  step) - 1.0)) if chosen[i] else grad
            for i, grad in enumerate(grads)]


def gradient_perturbation(config):
    """The Stepper's `perturb` for a config: None unless `optimizer.gradient_jitter` is set.
    Every trainable layer (dense, conv2d) holds a kernel and then a bias, in config order,
    which is the order of the model's trainable variables."""
    jitter, target = config.optimizer.gradient_jitter, config.optimizer.gradient_jitter_on
    if not jitter:
        return None
    parts = [part for layer in config.layers if layer.trainable for part in ("kernel", "bias")]
    chosen = [target in ("all", part) for part in parts]

    def perturb(grads, step):
        if len(grads) != len(parts):
            raise ValueError(f"gradient_jitter: expected {len(parts)} gradients, got {len(grads)}")
        return jitter_gradients(grads, jitter, config.seed, step, chosen)
    return perturb
