"""Measurement: one config, one result? Every loss x last activation, on both backends.

A saturating case: a 784-128 ReLU net on raw 0..255 pixels, RMSprop, 6000 examples, one epoch,
seed 0 (issue 14). Prints the test accuracy of each loss x last activation x backend, and the
first metrics row's test loss (the same starting weights give the same value on both backends).
Point --repo at another checkout (a worktree of an older commit) to measure that code instead.

    MNIST_DOCTOR_DATA=/path/mnist.npz python benchmarks/backend_parity.py [--repo PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LOSSES = ("crossentropy", "logits_crossentropy", "naive_log", "mse")
LAST_ACTIVATIONS = ("softmax", "sigmoid", "linear")
BACKENDS = ("tensorflow", "jax")


def config(loss: str, activation: str) -> dict:
    return {"name": f"{loss}-{activation}", "seed": 0,
            "data": {"normalize": False, "train_subset": 6000},
            "model": {"layers": [{"type": "dense", "units": 128, "activation": "relu"},
                                 {"type": "dense", "units": 10, "activation": activation}]},
            "loss": loss, "optimizer": {"name": "rmsprop", "learning_rate": 0.001},
            "train": {"batch_size": 128, "epochs": 1}}


def measure(repo: Path, backend: str, folder: Path) -> dict[str, tuple[str, str]]:
    paths = []
    for loss in LOSSES:
        for activation in LAST_ACTIVATIONS:
            path = folder / f"{loss}-{activation}.yaml"
            path.write_text(yaml.safe_dump(config(loss, activation)))
            paths.append(path)
    out = folder / backend
    subprocess.run([sys.executable, "-m", "mnist_doctor", "run", *map(str, paths), "--out",
                    str(out), "--backend", backend, "--quiet", "--no-doctor"], cwd=repo,
                   env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, check=False)
    results = {}
    for path in paths:
        try:
            info = json.loads((out / path.stem / "run.json").read_text())
            with open(out / path.stem / "metrics.csv", newline="") as stream:
                start = next(csv.DictReader(stream))["test_loss"]
            accuracy = f"{info['final']['test_accuracy']:.4f}"
            if info["status"] != "completed":
                accuracy += f" ({info['status']})"
            results[path.stem] = (accuracy, f"{float(start):.4f}")
        except (OSError, KeyError, StopIteration, ValueError):
            results[path.stem] = ("failed", "-")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {backend: measure(args.repo, backend, Path(tmp)) for backend in BACKENDS}
    print("| loss | last activation | TF test acc | JAX test acc | TF start loss "
          "| JAX start loss |")
    print("|---|---|---|---|---|---|")
    for loss in LOSSES:
        for activation in LAST_ACTIVATIONS:
            name = f"{loss}-{activation}"
            (tf_acc, tf_start), (jax_acc, jax_start) = (results[b][name] for b in BACKENDS)
            print(f"| {loss} | {activation} | {tf_acc} | {jax_acc} | {tf_start} | {jax_start} |")


if __name__ == "__main__":
    main()
