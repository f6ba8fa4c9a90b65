"""Only mnist-doctor's own output on screen: the libraries' logs stay behind `--verbose`.

TensorFlow writes C++ start-up lines ("oneDNN custom operations are on", "Could not find cuda
drivers", XLA notes) to file descriptor 2 before absl's logging is set up, so
TF_CPP_MIN_LOG_LEVEL does not stop them all, and they repeat in every process that imports it.
Python warnings (numpy overflow in telemetry on a diverging net, matplotlib's missing glyphs
for CJK run names) are the libraries' business too. Without --verbose, for the duration of a
command: warnings are ignored, the libraries' Python loggers show errors only, and fd 2 points
at /dev/null while `sys.stderr` (progress, errors: ours) keeps writing to the real stderr.
Worker processes inherit the silenced fd 2 and the environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

LIBRARY_LOGGERS = ("tensorflow", "absl", "jax", "keras", "matplotlib", "ray")
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


@contextlib.contextmanager
def library_logs(verbose: bool):
    """Hide the libraries' logs (see module docstring) unless `verbose`."""
    if verbose:
        yield
        return
    saved_env = {key: os.environ.get(key) for key in QUIET_ENV}
    os.environ.update({key: os.environ.get(key) or value for key, value in QUIET_ENV.items()})
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _fd2_silenced():
                yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _fd2_silenced():
    """Point fd 2 at /dev/null; sys.stderr moves to a copy of the real fd 2 meanwhile.
    Skipped when sys.stderr is not fd 2 (tests capture it in memory)."""
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False
    if not real:
        yield
        return
    original = sys.stderr
    original.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=original.encoding,
                           errors=original.errors, closefd=False)
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = original
        os.dup2(saved, 2)
        os.close(saved)
