"""Finding MNIST (resolution order, offline message) and shaping it per config."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_doctor.config import DataConfig
from mnist_doctor.data.mnist import ENV_VAR, DataError, DataSource, prepare, read_npz


def fake_mnist(path, train=20, test=10):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, train, dtype=np.uint8),
             x_test=rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, test, dtype=np.uint8))
    return path


def test_resolution_order_config_then_cli_then_env(tmp_path, monkeypatch):
    a, b, c = (fake_mnist(tmp_path / f"{n}.npz", train=n) for n in (11, 12, 13))
    monkeypatch.setenv(ENV_VAR, str(c))
    assert len(DataSource(str(b)).load(DataConfig(path=str(a))).x_train) == 11
    assert len(DataSource(str(b)).load(DataConfig()).x_train) == 12
    assert len(DataSource(None).load(DataConfig()).x_train) == 13


def test_data_is_loaded_once_per_invocation(tmp_path):
    source = DataSource(str(fake_mnist(tmp_path / "m.npz")))
    assert source.load(DataConfig()) is source.load(DataConfig(normalize=False))


def test_missing_explicit_file_names_where_it_came_from(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(DataError, match="MNIST file from --data not found"):
        DataSource(str(tmp_path / "nope.npz")).load(DataConfig())


def test_offline_without_a_copy_says_what_was_tried(tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def no_network(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    with pytest.raises(DataError) as caught:
        DataSource(None).load(DataConfig())
    message = str(caught.value)
    for fragment in ("data.path", "--data", ENV_VAR, "keras-home", "download", "Name or service"):
        assert fragment in message


def test_keras_cache_is_used_when_nothing_else_is_given(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    fake_mnist(tmp_path / "datasets" / "mnist.npz", train=7)
    assert len(DataSource(None).load(DataConfig()).x_train) == 7


def test_wrong_npz_layout_is_explained(tmp_path):
    np.savez(tmp_path / "other.npz", images=np.zeros((3, 28, 28)))
    with pytest.raises(DataError, match="missing arrays x_test, x_train, y_test, y_train"):
        read_npz(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(DataError, match="cannot read"):
        read_npz(tmp_path / "text.npz")


def test_prepare_shapes_scales_and_selects(tmp_path):
    mnist = read_npz(fake_mnist(tmp_path / "m.npz"))
    flat = prepare(mnist, DataConfig(train_subset=5))
    assert flat.x_train.shape == (5, 784) and flat.x_train.max() <= 1.0
    assert flat.y_train.shape == (5, 10) and np.all(flat.y_train.sum(axis=1) == 1)
    raw = prepare(mnist, DataConfig(normalize=False, flatten=False, train_on="test"))
    assert raw.x_train.shape == (10, 28, 28, 1) and raw.x_train.max() > 1.0
    np.testing.assert_array_equal(raw.x_train, raw.x_test)


def test_shared_mnist_is_the_canonical_layout(mnist_data_path):
    mnist = read_npz(mnist_data_path)
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert np.bincount(mnist.y_test)[1] == 1135  # the famous 0.1135: digit 1 is the majority
