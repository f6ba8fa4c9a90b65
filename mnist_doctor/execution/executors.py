"""Where runs execute: in this process, or in N fresh local worker processes (`--jobs N`).

Every executor takes `RunTask`s and calls `done(task, row)` once per run that has a result, in
any order; on Ctrl-C it stops the runs in flight, reports their rows (status `interrupted`) and
re-raises KeyboardInterrupt. The Ray executor (ray_executor.py) keeps the same contract.

A worker process trains exactly one run and exits, so TensorFlow state (graphs, XLA caches,
allocator growth) never leaks from one run into the next. Workers start with `spawn`, and their
thread pools are sized before TensorFlow is imported (cores // jobs each), so N workers share
the cores instead of each starting one thread per core and fighting over them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Protocol

from mnist_doctor.config.schema import ExperimentConfig, safe_name
from mnist_doctor.data.mnist import read_npz
from mnist_doctor.execution.runner import NullReporter, RunInterrupted, RunOptions, run_one
from mnist_doctor.runs.summary import record_lost
from mnist_doctor.vocabulary import RunStatus

# Passed to every worker explicitly: a Ray worker does not inherit the driver's environment.
PASSED_ENV = ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "JAX_PLATFORMS",
              "MNIST_DOCTOR_CACHE")
STOP_GRACE_SECONDS = 60  # an interrupted run writes its files; after this it is killed


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs, picklable, with absolute paths (a worker's cwd may differ)."""

    index: int
    config: ExperimentConfig
    invocation_dir: str
    data_path: str
    options: RunOptions
    threads: int = 0                        # 0: leave the library defaults (in-process runs)
    env: tuple[tuple[str, str], ...] = ()


Done = Callable[[RunTask, dict], None]


class Executor(Protocol):
    """Runs tasks and calls `done(task, row)` once per run that has a result, in any order.

    On Ctrl-C it stops the runs in flight, reports their rows (status `interrupted`) and
    re-raises KeyboardInterrupt. SerialExecutor, ProcessExecutor and RayExecutor implement it.
    """

    def run(self, tasks: list[RunTask], done: Done) -> None: ...


def passed_env() -> tuple[tuple[str, str], ...]:
    return tuple((key, os.environ[key]) for key in PASSED_ENV if key in os.environ)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class PinnedSource:
    """The MNIST file the parent resolved (config data.path, --data, env, cache), by path."""

    def __init__(self, path: str):
        self.path = Path(path)
        self._mnist = None

    def load(self, config=None):
        if self._mnist is None:
            self._mnist = read_npz(self.path)
        return self._mnist


def limit_threads(threads: int) -> None:
    """Size every thread pool a run can use; must run before TensorFlow/JAX is imported."""
    if threads <= 0:
        return
    count = str(threads)
    for key in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS"):
        os.environ[key] = count
    os.environ["TF_NUM_INTEROP_THREADS"] = count
    if threads == 1:  # XLA's CPU backend otherwise runs Eigen on every core
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # N workers share one GPU
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def run_task(task: RunTask) -> dict:
    """One run in a fresh process (local worker or Ray task); returns its summary row."""
    os.environ.update(dict(task.env))
    limit_threads(task.threads)
    from mnist_doctor.train.backends import select_backend

    select_backend(os.environ.get("KERAS_BACKEND") or "tensorflow")  # and its compile cache
    from mnist_doctor.train import backends

    backend = backends.active()
    if task.threads > 0:
        backend.limit_threads(task.threads)
    device = backend.configure_device(task.options.device)
    try:
        return run_one(task.config, Path(task.invocation_dir), PinnedSource(task.data_path),
                       task.options, device, NullReporter())
    except RunInterrupted as interrupted:
        return interrupted.row


class SerialExecutor:
    """Runs one after another in this process: one TensorFlow import for the whole sweep."""

    def __init__(self, source, reporter):
        self.source, self.reporter = source, reporter

    def run(self, tasks: list[RunTask], done: Done) -> None:
        from mnist_doctor.train import backends

        device = backends.active().configure_device(tasks[0].options.device)
        for task in tasks:
            try:
                row = run_one(task.config, Path(task.invocation_dir), self.source,
                              task.options, device, self.reporter)
            except RunInterrupted as interrupted:
                done(task, interrupted.row)
                raise
            done(task, row)
            self.reporter.finish(row)


def _child_main(task: RunTask, connection) -> None:
    """Worker process body: Ctrl-C is the parent's to handle; SIGTERM stops the run cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
    try:
        message = ("row", run_task(task))
    except KeyboardInterrupt:
        message = ("interrupted", "stopped before the run started")
    except Exception as err:  # noqa: BLE001 - reported to the parent as a failed run
        message = ("error", f"{type(err).__name__}: {err}")
    connection.send(message)
    connection.close()


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _stop_when_orphaned(parent: int) -> None:
    """If the parent is killed (kill -9), stop this run as interrupted instead of writing on
    into a folder that a `--resume` may be about to move aside."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class _Worker:
    task: RunTask
    process: multiprocessing.process.BaseProcess
    connection: object


class ProcessExecutor:
    """`--jobs N`: at most N worker processes, each started for one run (spawn, not fork)."""

    target = staticmethod(_child_main)  # what a worker process runs (tests swap in a crash)

    def __init__(self, jobs: int, reporter):
        self.jobs, self.reporter = jobs, reporter
        self.context = multiprocessing.get_context("spawn")

    def run(self, tasks: list[RunTask], done: Done) -> None:
        queue, running = list(tasks), {}
        progress = self.reporter.start(f"{len(tasks)} runs on {self.jobs} workers", len(tasks))
        finished = 0
        try:
            while queue or running:
                while queue and len(running) < self.jobs:
                    worker = self._start(queue.pop(0))
                    running[worker.connection] = worker
                for connection in wait(list(running)):
                    task, row = self._collect(running.pop(connection))
                    finished += 1
                    if row is not None:
                        done(task, row)
                        progress(finished, len(tasks), _f(row.get("test_loss")),
                                 _f(row.get("test_accuracy")))
        except KeyboardInterrupt:
            self._stop(list(running.values()), done)
            raise

    def _start(self, task: RunTask) -> _Worker:
        receiver, sender = self.context.Pipe(duplex=False)
        process = self.context.Process(target=self.target, args=(task, sender),
                                       name=f"mnist-doctor-run-{task.index}", daemon=True)
        process.start()
        sender.close()  # the child holds the only write end: EOF means it died
        return _Worker(task, process, receiver)

    def _collect(self, worker: _Worker) -> tuple[RunTask, dict | None]:
        try:
            kind, payload = worker.connection.recv()
        except (EOFError, OSError):
            kind, payload = "crashed", None
        worker.process.join()
        worker.connection.close()
        return worker.task, self._row(worker, kind, payload)

    def _row(self, worker: _Worker, kind: str, payload) -> dict | None:
        """The run's row; None for a run stopped before it made its folder (never started)."""
        task = worker.task
        invocation_dir = Path(task.invocation_dir)
        if kind == "row":
            return payload
        if kind == "error":
            return record_lost(task.config, invocation_dir, RunStatus.FAILED, payload)
        if kind == "interrupted":
            started = (invocation_dir / safe_name(task.config.name)).is_dir()
            return record_lost(task.config, invocation_dir, RunStatus.INTERRUPTED, payload) \
                if started else None
        code = worker.process.exitcode
        return record_lost(task.config, invocation_dir, RunStatus.FAILED,
                           f"worker process died (exit code {code}) before reporting")

    def _stop(self, workers: list[_Worker], done: Done) -> None:
        """Ask each run in flight to stop (SIGTERM -> interrupted), wait, then kill the rest."""
        for worker in workers:
            worker.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        try:
            while workers and deadline > time.monotonic():
                for connection in wait([w.connection for w in workers],
                                       deadline - time.monotonic()):
                    worker = next(w for w in workers if w.connection is connection)
                    workers.remove(worker)
                    task, row = self._collect(worker)
                    if row is not None:
                        done(task, row)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting
        for worker in workers:
            worker.process.kill()
            worker.process.join()
            worker.connection.close()
            task, invocation_dir = worker.task, Path(worker.task.invocation_dir)
            if (invocation_dir / safe_name(task.config.name)).is_dir():
                done(task, record_lost(task.config, invocation_dir, RunStatus.INTERRUPTED,
                                       "killed: did not stop within the grace period after Ctrl-C"))


def _f(value) -> float:
    """A progress-bar number: NaN for a missing one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
