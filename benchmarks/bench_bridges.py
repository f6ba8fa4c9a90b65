"""Benchmark: what the TensorBoard events and the Keras callback cost.

events    `mnist-doctor run` on a 784-100-10 MLP (per backend): run.json's `events_seconds`
          (all time spent encoding and writing events; the writer is synchronous, so this is
          its whole cost) against `wall_seconds`.
callback  the same MLP as a forum user's script, `model.fit(x, y, validation_data=...)`, with
          and without `callbacks=[mnist_doctor.Doctor(...)]`, alternating, each fit in its own
          subprocess; fit's wall time (diagnosis at the end of training included).

    MNIST_DOCTOR_DATA=/path/mnist.npz python benchmarks/bench_bridges.py [--repeats 3]
        [--examples 10000] [--epochs 2] [--backend tensorflow|jax|both]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def mlp_config(examples: int, epochs: int) -> dict:
    return {"name": "bench-mlp", "seed": 0, "data": {"train_subset": examples},
            "model": {"layers": [{"type": "dense", "units": 100, "activation": "relu"},
                                 {"type": "dense", "units": 10, "activation": "softmax"}]},
            "loss": "crossentropy", "optimizer": {"name": "adam", "learning_rate": 0.001},
            "train": {"batch_size": 100, "epochs": epochs}}


def events_cost(examples: int, epochs: int, backend: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mlp.yaml"
        config.write_text(yaml.safe_dump(mlp_config(examples, epochs)))
        subprocess.run([sys.executable, "-m", "mnist_doctor", "run", str(config), "--out",
                        f"{tmp}/out", "--quiet", "--backend", backend], check=True, cwd=ROOT,
                       capture_output=True)
        info = json.loads((Path(tmp) / "out" / "bench-mlp" / "run.json").read_text())
    return {"events_seconds": info["events_seconds"], "wall_seconds": info["wall_seconds"],
            "share": info["events_seconds"] / info["wall_seconds"]}


def fit_once(examples: int, epochs: int, doctor: bool) -> float:
    """Runs in a subprocess: the user's script, timed around model.fit."""
    import keras

    from mnist_doctor.data.mnist import read_npz

    data = read_npz(os.environ["MNIST_DOCTOR_DATA"])
    x = data.x_train[:examples].reshape(-1, 784).astype("float32") / 255
    xt = data.x_test.reshape(-1, 784).astype("float32") / 255
    y, yt = keras.utils.to_categorical(data.y_train[:examples]), keras.utils.to_categorical(
        data.y_test)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(100, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    callbacks = []
    if doctor:
        from mnist_doctor import Doctor

        callbacks = [Doctor(tempfile.mkdtemp(), verbose=False)]
    started = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=100, validation_data=(xt, yt), verbose=0,
              callbacks=callbacks)
    return time.perf_counter() - started


def callback_cost(examples: int, epochs: int, repeats: int) -> dict:
    times: dict[str, list[float]] = {"plain": [], "doctor": []}
    for repeat in range(repeats):
        for way in (("plain", "doctor") if repeat % 2 == 0 else ("doctor", "plain")):
            done = subprocess.run([sys.executable, __file__, "--fit-once", way, "--examples",
                                   str(examples), "--epochs", str(epochs)], check=True, cwd=ROOT,
                                  capture_output=True, text=True,
                                  env={**os.environ, "KERAS_BACKEND": "tensorflow",
                                       "PYTHONPATH": str(ROOT),
                                       "TF_CPP_MIN_LOG_LEVEL": "3"})
            times[way].append(float(done.stdout.strip().splitlines()[-1]))
    plain, doctor = statistics.median(times["plain"]), statistics.median(times["doctor"])
    return {"plain_fit_seconds": plain, "doctor_fit_seconds": doctor,
            "overhead": doctor / plain - 1, "runs": times}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--examples", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--backend", choices=("tensorflow", "jax", "both"), default="both")
    parser.add_argument("--fit-once", choices=("plain", "doctor"))
    args = parser.parse_args()
    if args.fit_once:
        print(fit_once(args.examples, args.epochs, args.fit_once == "doctor"))
        return
    backends = ("tensorflow", "jax") if args.backend == "both" else (args.backend,)
    for backend in backends:
        costs = [events_cost(args.examples, args.epochs, backend) for _ in range(args.repeats)]
        share = statistics.median(cost["share"] for cost in costs)
        print(f"events   {backend:10s} {statistics.median(c['events_seconds'] for c in costs):.3f}"
              f" s of {statistics.median(c['wall_seconds'] for c in costs):.2f} s run "
              f"= {share:.2%}")
    cost = callback_cost(args.examples, args.epochs, args.repeats)
    print(f"callback tensorflow fit {cost['plain_fit_seconds']:.2f} s plain, "
          f"{cost['doctor_fit_seconds']:.2f} s with Doctor = {cost['overhead']:+.1%}")
    print(json.dumps(cost))


if __name__ == "__main__":
    main()
