"""Starting weights drawn with numpy from the run's seed: the same numbers on every backend.

Keras's initialisers draw from the backend's own generator, so one seed gave TensorFlow and
JAX different starting weights and, on a net near a tipping point, different outcomes. Here
each weight tensor has its own generator, seeded by (run seed, layer index, kernel or bias):
changing one layer's initialiser (a treatment trial) leaves every other layer's weights as
they were. The distributions are Keras's, formula for formula (keras.initializers).
"""

from __future__ import annotations

import math

import numpy as np

from mnist_doctor.config.schema import Initializer

KERNEL, BIAS = 0, 1
TRUNCATION = 2.0  # Keras's truncated normals redraw values beyond two standard deviations
# The standard deviation of a unit normal truncated at +-2 (Keras divides by it so a
# truncated variance-scaling draw keeps the intended variance).
TRUNCATED_STD = 0.87962566103423978
VARIANCE_SCALING = {  # name: (scale, fan mode, distribution), as Keras defines them
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def initial_value(spec: Initializer, shape: tuple[int, ...], seed: int, layer_index: int,
                  part: int) -> np.ndarray:
    """The float32 starting value of one weight tensor (`part`: KERNEL or BIAS)."""
    rng = np.random.default_rng([seed, layer_index, part])
    value = _draw(spec, tuple(shape), rng)
    if spec.jitter:
        value = value + rng.uniform(-spec.jitter, spec.jitter, shape)
    return value.astype(np.float32)


def _draw(spec: Initializer, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if spec.name == "zeros":
        return np.zeros(shape)
    if spec.name == "ones":
        return np.ones(shape)
    if spec.name == "constant":
        return np.full(shape, spec.value, dtype=np.float64)
    if spec.name == "normal":
        return rng.normal(spec.mean, spec.stddev, shape)
    if spec.name == "truncated_normal":
        return spec.mean + spec.stddev * _truncated_unit_normal(shape, rng)
    if spec.name == "uniform":
        return rng.uniform(spec.low, spec.high, shape)
    scale, mode, distribution = VARIANCE_SCALING[spec.name]
    fan_in, fan_out = fans(shape)
    fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    if distribution == "uniform":
        limit = math.sqrt(3.0 * scale / fan)
        return rng.uniform(-limit, limit, shape)
    return math.sqrt(scale / fan) / TRUNCATED_STD * _truncated_unit_normal(shape, rng)


def fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """(fan_in, fan_out) as Keras counts them: a Dense kernel is (in, out); a Conv2D kernel is
    (height, width, in, out), each input and output channel counting its receptive field."""
    if len(shape) < 2:
        size = shape[0] if shape else 1
        return float(size), float(size)
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _truncated_unit_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Unit normals, each beyond +-2 redrawn until it falls inside (as Keras does)."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > TRUNCATION
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > TRUNCATION
    return values
