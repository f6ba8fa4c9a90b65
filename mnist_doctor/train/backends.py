"""The Keras backends mnist-doctor trains on: choosing one before Keras loads, the registry of
their Steppers and helpers, and where compiled programs are cached.

Each backend module (tensorflow_backend.py, jax_backend.py) exports one `Backend`; `active()`
returns the one Keras runs on. Keras reads KERAS_BACKEND once, at import, so `mnist-doctor run
--backend` must set it before anything imports Keras; a process that already runs Keras on
another backend is refused.

Compiling the training loop, the evaluation and (on JAX) every weight initialiser costs one to
three seconds per run on a small CPU, often more than the training itself. Both backends can keep
compiled XLA programs on disk, keyed by the program, so a later run of the same model shapes
(another seed, learning rate or loss scale, the same config again) skips the compiler. The cache
lives in $MNIST_DOCTOR_CACHE, else $XDG_CACHE_HOME/mnist-doctor/xla (~/.cache/...);
MNIST_DOCTOR_CACHE=off turns it off. Numbers are unaffected: a cached program is the same program.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from mnist_doctor.train.stepper import Backend

BACKENDS = ("tensorflow", "jax")
CACHE_ENV = "MNIST_DOCTOR_CACHE"
_cache_in_use: Path | None = None


def select_backend(name: str) -> None:
    """Make `name` the Keras backend for this process and turn its compilation cache on.

    Raises ValueError when the backend's package is missing or Keras already runs another one.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
    if importlib.util.find_spec(name) is None:
        extra = "" if name == "tensorflow" else f"[{name}]"
        raise ValueError(f"--backend {name}: {name} is not installed "
                         f"(pip install mnist-doctor{extra})")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise ValueError(f"--backend {name}: Keras is already loaded with the "
                             f"{keras.backend.backend()} backend in this process; start a new "
                             "process")
    os.environ["KERAS_BACKEND"] = name
    _enable_compile_cache(name)


def compile_cache_dir() -> Path | None:
    """The cache folder the environment asks for, or None when it is turned off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None and value.strip().lower() in ("", "off", "0", "none", "false"):
        return None
    if value:
        return Path(value).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-doctor" / "xla"


def compile_cache_in_use() -> str | None:
    """The folder this process caches compiled programs in (for run.json), if any."""
    return str(_cache_in_use) if _cache_in_use else None


def _enable_compile_cache(name: str) -> None:
    global _cache_in_use
    directory = compile_cache_dir()
    if directory is None or name in sys.modules:  # the framework read its flags already
        return
    target = directory / name
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # an unwritable cache only costs compile time
    if name == "tensorflow":
        flags = os.environ.get("TF_XLA_FLAGS", "")
        if "tf_xla_persistent_cache_directory" in flags or " " in str(target):
            return
        os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={target}".strip()
    else:
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(target))
        # Cache even the sub-second compiles: a run has dozens (one per weight initialiser).
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    _cache_in_use = target


def backend_name() -> str:
    import keras

    return keras.backend.backend()


def active() -> Backend:
    """The `Backend` of the Keras backend this process runs."""
    name = backend_name()
    if name == "tensorflow":
        from mnist_doctor.train.tensorflow_backend import BACKEND
    elif name == "jax":
        from mnist_doctor.train.jax_backend import BACKEND
    else:
        raise RuntimeError(f"Keras backend {name!r} is not supported; use one of "
                           f"{', '.join(BACKENDS)}")
    return BACKEND


def build_stepper(make_stepper, batch_sizes, jit: bool = True):
    """A warmed-up Stepper and how it runs, falling back from XLA when compilation fails.

    `make_stepper(jit)` builds a fresh model, optimiser and Stepper (a failed attempt may have
    built optimiser slots). Warming up compiles the loop for every batch shape of the run with
    zero updates, so a compiler error shows here, before anything is recorded, and the run
    retries on the uncompiled path instead of failing. Returns (stepper, execution dict).
    """
    stepper = make_stepper(jit)
    try:
        stepper.warm_up(batch_sizes)
        return stepper, {"path": stepper.path, "fallback_reason": None,
                         **getattr(stepper, "notes", {})}
    except Exception as err:  # noqa: BLE001 - any compiler failure gets the same retry
        if not jit:
            raise
        reason = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:200]}"
    del stepper
    stepper = make_stepper(False)
    stepper.warm_up(batch_sizes)
    return stepper, {"path": stepper.path, "fallback_reason": reason,
                     **getattr(stepper, "notes", {})}


def release_memory() -> None:
    """Free what a finished run left: its model, Stepper and compiled functions sit in reference
    cycles that Python's collector may not reach for many runs, each holding the training data."""
    import gc
    import sys

    if "keras" in sys.modules:
        import keras

        keras.backend.clear_session()
    gc.collect()
