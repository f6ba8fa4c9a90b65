"""The comparison side of the benchmark: an experiment trained the way forum users write it.

`Sequential` with the activation inside each layer, `compile` with its defaults (only the
optimizer, the loss and `metrics=["accuracy"]`), `model.fit(x, y, batch_size, epochs)` on numpy
arrays and `model.evaluate` on the test set, on the TensorFlow backend. The experiment is read from
an mnist-doctor YAML config with nothing but PyYAML, so both sides train the same network with
the same settings; mnist_doctor itself is never imported here.

Timing: `train_seconds` runs from the raw uint8 arrays in memory (imports and reading the .npz
excluded, as in `mnist-doctor run`'s `wall_seconds`) through scaling, building, compiling,
`fit` and the final `evaluate`. The last line printed is one JSON object.

    python benchmarks/plain_keras.py CONFIG.yaml [--epochs N] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402


def initializer(spec):
    """An mnist-doctor initialiser spec as the Keras object a forum script would write."""
    if isinstance(spec, str):
        return spec
    (name, params), = spec.items()
    if name == "constant":
        return keras.initializers.Constant(params)
    if name == "normal":
        return keras.initializers.RandomNormal(params.get("mean", 0.0), params["stddev"])
    if name == "truncated_normal":
        return keras.initializers.TruncatedNormal(params.get("mean", 0.0), params["stddev"])
    return keras.initializers.RandomUniform(params["low"], params["high"])


def build(layers: list[dict], flatten: bool) -> keras.Sequential:
    model = keras.Sequential([keras.Input((784,) if flatten else (28, 28, 1))])
    for spec in layers:
        inits = {"kernel_initializer": initializer(spec.get("kernel_init", "glorot_uniform")),
                 "bias_initializer": initializer(spec.get("bias_init", "zeros"))}
        activation = spec.get("activation", "linear")
        if spec["type"] == "dense":
            model.add(keras.layers.Dense(spec["units"], activation=activation, **inits))
        elif spec["type"] == "conv2d":
            model.add(keras.layers.Conv2D(spec["filters"], spec.get("kernel_size", 3),
                                          strides=spec.get("strides") or 1,
                                          padding=spec.get("padding", "valid"),
                                          activation=activation, **inits))
        elif spec["type"] == "max_pool2d":
            model.add(keras.layers.MaxPooling2D(spec.get("pool_size", 2),
                                                strides=spec.get("strides"),
                                                padding=spec.get("padding", "valid")))
        elif spec["type"] == "flatten":
            model.add(keras.layers.Flatten())
        else:
            model.add(keras.layers.Dropout(spec.get("rate", 0.5)))
    return model


def optimizer(spec: dict):
    name, rate = spec["name"], spec["learning_rate"]
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=spec.get("momentum", 0.0))
    return {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
            "adagrad": keras.optimizers.Adagrad}[name](rate)


LOSSES = {"crossentropy": "categorical_crossentropy", "mse": "mean_squared_error"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--steps", type=int, help="override train.steps")
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as stream:
        config = yaml.safe_load(stream)
    data, train = config.get("data", {}), config["train"]
    if config.get("loss", "crossentropy") not in LOSSES:
        raise SystemExit(f"plain_keras: loss {config['loss']!r} has no Keras built-in")
    with np.load(os.environ["MNIST_DOCTOR_DATA"]) as npz:
        raw = {key: npz[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    keras.utils.set_random_seed(config.get("seed", 0))

    started, cpu_started = time.perf_counter(), time.process_time()
    flatten = data.get("flatten", True)
    shape = (-1, 784) if flatten else (-1, 28, 28, 1)
    x_train = raw["x_train"].reshape(shape).astype("float32") / 255
    x_test = raw["x_test"].reshape(shape).astype("float32") / 255
    y_train = keras.utils.to_categorical(raw["y_train"], 10)
    y_test = keras.utils.to_categorical(raw["y_test"], 10)
    epochs = args.epochs or train.get("epochs")
    steps = args.steps or (None if args.epochs else train.get("steps"))
    if steps:  # a fixed number of updates: one epoch over the first steps * batch examples
        examples = steps * train["batch_size"]
        x_train, y_train = x_train[:examples], y_train[:examples]
        epochs = 1
    model = build(config["model"]["layers"], flatten)
    model.compile(optimizer=optimizer(config["optimizer"]), loss=LOSSES[config.get("loss")],
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=train["batch_size"], epochs=epochs, verbose=2)
    fitted = time.perf_counter()
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    finished = time.perf_counter()
    print(json.dumps({"train_seconds": finished - started, "fit_seconds": fitted - started,
                      "train_cpu_seconds": time.process_time() - cpu_started,
                      "test_accuracy": test_accuracy, "test_loss": test_loss,
                      "backend": keras.backend.backend()}))


if __name__ == "__main__":
    main()
