"""Random bits that are the same on every Keras backend: a counter-based hash in keras.ops.

Keras's own random ops draw from each backend's generator (Philox on TensorFlow, Threefry on
JAX), so one seed gives two different dropout masks and two different runs. Here a random
number is a hash of (key, counter, element index), computed with uint32 arithmetic that
TensorFlow (eager, graph and XLA) and JAX evaluate bit for bit alike. The hash is MurmurHash3's
32-bit finaliser: not cryptographic, but every output bit depends on every input bit, which is
all a dropout mask or a rounding perturbation needs.
"""

from __future__ import annotations

import numpy as np
from keras import ops

_MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9  # 2^32 / golden ratio: spreads consecutive counters over the word
_FMIX = (0x85EBCA6B, 0xC2B2AE35)


def mix_key(*parts: int) -> int:
    """One 32-bit key from several integers (seed, layer index, purpose), in plain Python."""
    key = 0
    for part in parts:
        key = _fmix_int((key * _GOLDEN + part + 1) & _MASK32)
    return key


def _fmix_int(h: int) -> int:
    h ^= h >> 16
    h = (h * _FMIX[0]) & _MASK32
    h ^= h >> 13
    h = (h * _FMIX[1]) & _MASK32
    return h ^ (h >> 16)


def _u32(value: int):
    return ops.convert_to_tensor(np.uint32(value))


def _fmix(h):
    h = ops.bitwise_xor(h, ops.right_shift(h, 16))
    h = ops.multiply(h, _u32(_FMIX[0]))
    h = ops.bitwise_xor(h, ops.right_shift(h, 13))
    h = ops.multiply(h, _u32(_FMIX[1]))
    return ops.bitwise_xor(h, ops.right_shift(h, 16))


def uniform(shape, key: int, counter):
    """float32 values in [0, 1), one per element of `shape`, fixed by (key, counter).

    `counter` is a scalar tensor (a step or call count): each value of it gives a fresh draw.
    The 24 high bits of the hash become the mantissa, so every value is exact in float32.
    """
    size = int(np.prod(shape))
    call = _fmix(ops.add(ops.multiply(ops.cast(counter, "uint32"), _u32(_GOLDEN)), _u32(key)))
    index = ops.cast(ops.arange(size), "uint32")
    bits = _fmix(ops.bitwise_xor(ops.multiply(index, _u32(_GOLDEN)), call))
    high = ops.cast(ops.right_shift(bits, 8), "float32")
    return ops.reshape(high * (1.0 / (1 << 24)), shape)
