"""Shared test setup: every test that trains reads the workplace's MNIST copy, offline.

The data path comes from MNIST_DOCTOR_DATA when the caller set it (CI does), else the shared
copy next to the repository, so tests never try a Keras download.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist.npz"


@pytest.fixture(scope="session", autouse=True)
def mnist_data_path() -> Path:
    """The mnist.npz tests train on; sets MNIST_DOCTOR_DATA for the whole session if unset."""
    os.environ.setdefault("MNIST_DOCTOR_DATA", str(SHARED_MNIST.resolve()))
    return Path(os.environ["MNIST_DOCTOR_DATA"])


TINY_CONFIG = {
    "seed": 0,
    "data": {"train_subset": 600},
    "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                         {"type": "dense", "units": 10, "activation": "softmax"}]},
    "loss": "crossentropy",
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "train": {"batch_size": 50, "steps": 24, "eval_every": 12},
}


@pytest.fixture
def write_config(tmp_path):
    """write_config(name, **overrides) -> path of a YAML config: TINY_CONFIG with overrides
    (top-level keys replaced whole), for tests that need a real but seconds-long run."""
    import yaml

    def write(name: str = "tiny", **overrides) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**TINY_CONFIG, **overrides}), encoding="utf-8")
        return path

    return write


@pytest.fixture
def broken_build(monkeypatch):
    """Any config named `broken` fails while its model is built; the others build as usual."""
    import mnist_doctor.model.build

    real = mnist_doctor.model.build.build_model

    def build(config):
        if config.name == "broken":
            raise ValueError("simulated build failure")
        return real(config)

    monkeypatch.setattr(mnist_doctor.model.build, "build_model", build)


def json_from_each_backend(script: Path) -> dict[str, object]:
    """Run `python script BACKEND` once per Keras backend, side by side in fresh processes (a
    process has one backend), and return what each printed as JSON on its last line."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    workers = {backend: subprocess.Popen([sys.executable, str(script), backend],
                                         cwd=script.parents[1],
                                         env={**env, "KERAS_BACKEND": backend},
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
               for backend in ("tensorflow", "jax")}
    results = {}
    for backend, worker in workers.items():
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
        results[backend] = json.loads(out.strip().splitlines()[-1])
    return results
