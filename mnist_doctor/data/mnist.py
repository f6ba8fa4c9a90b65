"""MNIST: find it, load it once, and shape it the way a config asks.

Resolution order (first hit wins): `data.path` in the config, `--data PATH`, the environment
variable MNIST_DOCTOR_DATA, the Keras cache (~/.keras/datasets/mnist.npz), a Keras download.
Offline with no local copy, one `DataError` says what was tried and how to point at a file.
TensorFlow/Keras is imported only for the download, so validating configs never pays for it.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_doctor.config.schema import DataConfig

ENV_VAR = "MNIST_DOCTOR_DATA"
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
NUM_CLASSES = 10
EXPECTED_KEYS = {"x_train": (28, 28), "y_train": (), "x_test": (28, 28), "y_test": ()}
LAYOUT = ("a NumPy .npz archive in Keras layout: x_train (N, 28, 28) and x_test (M, 28, 28) "
          "images (uint8 0-255), y_train (N,) and y_test (M,) labels 0-9")


class DataError(Exception):
    """MNIST could not be found or read; the message says what was tried and what to do."""


@dataclass(frozen=True)
class Mnist:
    """The raw uint8 arrays in Keras layout, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


@dataclass(frozen=True)
class Prepared:
    """Float arrays ready to train on: inputs as the model expects, labels one-hot."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def keras_cache_path() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"


def read_npz(path: Path) -> Mnist:
    """Read an .npz in Keras layout, checking keys and shapes so a wrong file fails clearly."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):  # a bare .npy array, not an archive
                raise ValueError("a single array")
            arrays = {key: npz[key] for key in EXPECTED_KEYS if key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        # numpy's own message suggests allow_pickle=True, which is unsafe on a foreign file
        raise DataError(f"{path}: not a valid MNIST .npz (numpy cannot read it as an .npz "
                        f"archive); expected {LAYOUT}") from err
    missing = sorted(set(EXPECTED_KEYS) - set(arrays))
    if missing:
        raise DataError(f"{path}: not MNIST in Keras layout: missing arrays {', '.join(missing)} "
                        f"(expected {LAYOUT})")
    for key, tail in EXPECTED_KEYS.items():
        if arrays[key].shape[1:] != tail:
            raise DataError(f"{path}: {key} has shape {arrays[key].shape}, expected (N, *{tail})")
    for split in ("train", "test"):
        _check_split(path, split, arrays[f"x_{split}"], arrays[f"y_{split}"])
    return Mnist(**arrays, source=str(path))


def _check_split(path: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Same number of images and labels, labels whole numbers 0-9, images numeric."""
    if len(images) != len(labels):
        raise DataError(f"{path}: x_{split} has {len(images)} images but y_{split} has "
                        f"{len(labels)} labels; they must match")
    if not np.issubdtype(images.dtype, np.number) or not np.issubdtype(labels.dtype, np.number):
        raise DataError(f"{path}: x_{split}/y_{split} must be numeric arrays, got "
                        f"{images.dtype}/{labels.dtype}")
    if len(labels) and (not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels))
                        or labels.min() < 0 or labels.max() >= NUM_CLASSES):
        bad = labels[(labels < 0) | (labels >= NUM_CLASSES) | (labels != np.round(labels))]
        raise DataError(f"{path}: y_{split} holds labels outside the digits 0-9 "
                        f"(e.g. {bad.ravel()[0] if bad.size else 'nan'}); expected class "
                        f"indices 0-{NUM_CLASSES - 1}")


class DataSource:
    """Finds and caches MNIST per invocation, so a sweep of 20 configs reads the file once."""

    def __init__(self, cli_path: str | None = None):
        self.cli_path = cli_path
        self._loaded: dict[str, Mnist] = {}

    def candidates(self, config: DataConfig) -> list[tuple[str, Path]]:
        found = [("data.path in the config", config.path), ("--data", self.cli_path),
                 (ENV_VAR, os.environ.get(ENV_VAR))]
        return [(label, Path(p).expanduser()) for label, p in found if p]

    def load(self, config: DataConfig) -> Mnist:
        explicit = self.candidates(config)
        if explicit:
            label, path = explicit[0]
            if not path.is_file():
                raise DataError(f"MNIST file from {label} not found: {path}")
            return self._cached(path)
        cache = keras_cache_path()
        if cache.is_file():
            return self._cached(cache)
        return self._cached(download(cache))

    def _cached(self, path: Path) -> Mnist:
        key = str(path.resolve())
        if key not in self._loaded:
            self._loaded[key] = read_npz(path)
        return self._loaded[key]


def download(cache: Path) -> Path:
    """Fetch MNIST the usual Keras way; on failure, explain every way to supply it."""
    import keras  # only here: a download is the one data step that needs Keras

    try:
        return Path(keras.utils.get_file("mnist.npz", origin=KERAS_ORIGIN,
                                         cache_dir=str(cache.parent.parent),
                                         cache_subdir="datasets"))
    except Exception as err:  # noqa: BLE001 - any network failure gets the same advice
        raise DataError(
            "MNIST is not available: no data.path in the config, no --data option, "
            f"{ENV_VAR} is not set, nothing at the Keras cache {cache}, and the download from "
            f"{KERAS_ORIGIN} failed ({type(err).__name__}: {err}). Point mnist-doctor at a "
            f"copy of mnist.npz (Keras layout) with --data PATH or {ENV_VAR}=PATH."
        ) from err


def prepare(mnist: Mnist, config: DataConfig) -> Prepared:
    """Apply the config's data choices: which split trains, subset, scaling, shape."""
    x_fit, y_fit = (mnist.x_train, mnist.y_train) if config.train_on == "train" else (
        mnist.x_test, mnist.y_test)
    if config.train_subset is not None:
        x_fit, y_fit = x_fit[: config.train_subset], y_fit[: config.train_subset]
    return Prepared(_inputs(x_fit, config), _one_hot(y_fit), _inputs(mnist.x_test, config),
                    _one_hot(mnist.y_test))


def _inputs(images: np.ndarray, config: DataConfig) -> np.ndarray:
    x = images.astype("float32")
    if config.normalize:
        x /= 255.0
    return x.reshape(len(x), 784) if config.flatten else x.reshape(len(x), 28, 28, 1)


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype="float32")[labels.astype("int64")]
