"""The doctor in a user's own script: each test is a plain Keras script as a forum user writes
it, on a small MNIST subset, with `callbacks=[Doctor(...)]` added."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from test_tensorboard import check_run_folder

from mnist_doctor import Doctor
from mnist_doctor.cli import main
from mnist_doctor.config.loader import load_config
from mnist_doctor.data.mnist import read_npz

TRAIN, TEST = 2000, 1000


@pytest.fixture(scope="module")
def mnist():
    """(x_train, y_train, x_test, y_test): flattened raw pixels 0..255, one-hot labels."""
    data = read_npz(os.environ["MNIST_DOCTOR_DATA"])
    flat = lambda x: x.reshape(len(x), 784).astype("float32")  # noqa: E731
    one_hot = lambda y: keras.utils.to_categorical(y, 10)  # noqa: E731
    return (flat(data.x_train[:TRAIN]), one_hot(data.y_train[:TRAIN]),
            flat(data.x_test[:TEST]), one_hot(data.y_test[:TEST]))


def findings_of(run_dir) -> list[dict]:
    return json.loads((run_dir / "diagnosis.json").read_text())["findings"]


def fit(model, *args, out, **kwargs):
    """model.fit with the doctor; returns the run folder it recorded."""
    doctor = Doctor(out, verbose=kwargs.pop("verbose_doctor", False))
    model.fit(*args, verbose=0, callbacks=[doctor], **kwargs)
    return doctor.folder.path


def test_softmax_hidden_layer_and_zero_init(mnist, tmp_path, capsys):
    x, y, xt, yt = mnist
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(64, activation="softmax", kernel_initializer="zeros"),
        keras.layers.Dense(10, activation="softmax", kernel_initializer="zeros"),
    ])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x / 255, y, epochs=2, batch_size=100, validation_data=(xt / 255, yt), verbose=0,
              callbacks=[Doctor(tmp_path / "my-script")])
    run_dir = tmp_path / "my-script" / model.name
    assert findings_of(run_dir)[0]["code"] in ("softmax_in_hidden_layer", "constant_init")
    assert "softmax_in_hidden_layer" in capsys.readouterr().out
    config = load_config(run_dir / "config.yaml")
    assert [(layer.activation, layer.kernel_init.name) for layer in config.layers] == \
        [("softmax", "zeros"), ("softmax", "zeros")]
    for command in ("diagnose", "show", "report"):
        result = CliRunner().invoke(main, [command, str(tmp_path / "my-script")])
        assert result.exit_code == 0, result.output


def test_naive_log_loss_nan_is_located_in_the_loss(mnist, tmp_path):
    x, y, xt, yt = mnist
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=lambda y_true, y_pred: -tf.reduce_sum(y_true * tf.math.log(y_pred)))
    run_dir = fit(model, x, y, epochs=2, batch_size=100, validation_data=(xt, yt),
                  out=tmp_path / "naive")
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "diverged" and info["first_nonfinite_layer"] == "loss"
    codes = [finding["code"] for finding in findings_of(run_dir)]
    assert {"nan_loss", "unnormalized_input", "summed_loss_large_batch"} <= set(codes)
    config = load_config(run_dir / "config.yaml")
    assert (config.loss, config.loss_reduction, config.data.normalize) == \
        ("naive_log", "sum", False)


def test_a_healthy_net_gets_no_error_or_warning(mnist, tmp_path):
    x, y, xt, yt = mnist
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    run_dir = fit(model, x / 255, y, epochs=3, batch_size=50, validation_data=(xt / 255, yt),
                  out=tmp_path / "healthy")
    findings = findings_of(run_dir)
    assert [f["code"] for f in findings if f["severity"] in ("error", "warning")] == []
    telemetry = (run_dir / "telemetry.csv").read_text()
    assert "L0_dense,kernel_grad_norm" in telemetry and "L0_dense,dead_unit_frac" in telemetry
    assert "L1_dense,update_ratio" in telemetry
    check_run_folder(run_dir)  # its TensorBoard events hold the same numbers as the CSVs


def test_the_callback_does_not_change_training(mnist, tmp_path):
    x, y, xt, yt = mnist

    def script(callbacks):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dropout(0.3),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x[:1000] / 255, y[:1000], epochs=2, batch_size=50, verbose=0,
                            validation_data=(xt / 255, yt), callbacks=callbacks)
        return history.history, model.get_weights()

    plain_history, plain_weights = script([])
    doctor_history, doctor_weights = script([Doctor(tmp_path / "same", verbose=False)])
    assert doctor_history == plain_history
    for plain, doctored in zip(plain_weights, doctor_weights, strict=True):
        np.testing.assert_array_equal(plain, doctored)


def test_on_jax_the_callback_records_metrics_and_the_static_findings(tmp_path):
    pytest.importorskip("jax")
    script = f"""
import keras, numpy as np, os
from mnist_doctor import Doctor
from mnist_doctor.data.mnist import read_npz
data = read_npz(os.environ["MNIST_DOCTOR_DATA"])
x = data.x_train[:500].reshape(500, 784).astype("float32")
y = keras.utils.to_categorical(data.y_train[:500], 10)
model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(16, activation="softmax"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=1, batch_size=50, verbose=0, callbacks=[Doctor({str(tmp_path)!r})])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[1],
                          env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr[-2000:]
    (run_dir,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["backend"] == "jax" and info["status"] == "completed"
    codes = [finding["code"] for finding in findings_of(run_dir)]
    assert codes[0] == "softmax_in_hidden_layer" and "unnormalized_input" in codes
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 3  # header, step 0, end
