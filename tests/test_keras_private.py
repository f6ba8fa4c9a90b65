"""The one use of private Keras API (train/keras_private.py) must fail loudly, here, when a
Keras release moves its names or changes what seeding does."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, keras, numpy as np
from mnist_doctor.train.keras_private import set_random_seed

def weights(seed_with):
    seed_with(7)
    layer = keras.layers.Dense(4)
    layer.build((None, 3))
    return np.asarray(layer.kernel).tolist()

ours = weights(set_random_seed)
public = weights(keras.utils.set_random_seed)
again = weights(set_random_seed)
print(json.dumps({"ours": ours, "public": public, "again": again}))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed (pip install -e .[jax]); the JAX seed path "
                           "is the only user of private Keras API")
def test_private_seed_matches_keras_public_seeding_on_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, (
        "train/keras_private.py no longer works with this Keras release; "
        f"update it: {result.stderr[-2000:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["ours"] == found["public"] == found["again"]
