"""Dropout whose masks are the same on every backend (model/counter_random.py).

Keras's Dropout draws its masks from the backend's own generator, so the same config and seed
train on different masks under TensorFlow and JAX. This layer hashes (seed, layer, call count,
element) instead. The call count is a non-trainable variable that advances once per training
call: inference calls (evaluation, the doctor's probes) leave it, and so the masks, alone.
"""

from __future__ import annotations

import keras
from keras import ops

from mnist_doctor.model.counter_random import mix_key, uniform

DROPOUT_PURPOSE = 1  # a key of its own, apart from other users of the same seed


class CountedDropout(keras.layers.Layer):
    """Inverted dropout: zero each element with probability `rate`, scale the rest by 1/(1-rate)."""

    def __init__(self, rate: float, seed: int, index: int, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed, self.index = float(rate), int(seed), int(index)
        self.key = mix_key(self.seed, self.index, DROPOUT_PURPOSE)

    def build(self, input_shape) -> None:
        self.calls = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                     trainable=False, name="calls")

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        draw = uniform(ops.shape(inputs), self.key, self.calls)
        self.calls.assign(self.calls + 1)
        keep = ops.cast(draw >= self.rate, inputs.dtype)
        return inputs * keep / (1.0 - self.rate)

    def compute_output_spec(self, inputs, training=False):
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "index": self.index}
