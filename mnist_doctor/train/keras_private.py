"""The one place mnist-doctor reaches into private Keras API (`keras.src`), and why.

`keras.utils.set_random_seed` also calls `tf.random.set_seed`, which imports TensorFlow whenever
it is installed: seconds of every JAX run for nothing. Keras has no public way to set only its
own global seed, so this module does what that function does minus TensorFlow.
tests/test_keras_private.py fails loudly when a Keras release moves these names or changes what
seeding means (same weights as `keras.utils.set_random_seed` for the same seed).
"""

from __future__ import annotations

import random

import numpy as np


def set_random_seed(seed: int) -> None:
    """What keras.utils.set_random_seed does, minus `tf.random.set_seed`: Keras imports
    TensorFlow for that whenever it is installed, which costs seconds of every JAX run."""
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    global_state.set_global_attribute("global_random_seed", seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
