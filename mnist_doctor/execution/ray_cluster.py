"""`--executor ray`: the same runs as Ray tasks, on an existing cluster or a local Ray instance.

Each task is `executors.run_task` in a Ray worker that serves one task and exits
(`max_calls=1`), so a run is as isolated as in a local worker process, and it reserves one CPU
and uses one thread. The task writes its run folder itself, so the invocation folder (and the
MNIST file) must be at the same path on every node: a shared filesystem (README, "Sweeps").

Retries are off (`max_retries=0`, `retry_exceptions=False`): a retried task would start again
next to the half-written folder of its first attempt, and the usual crashes (out of memory, a
bad config) are deterministic and would only crash again. A task that dies becomes a failed
row; `mnist-doctor run --resume` reruns it explicitly, in a clean folder.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from mnist_doctor.config.schema import safe_name
from mnist_doctor.execution.executors import STOP_GRACE_SECONDS, Done, RunTask, run_task
from mnist_doctor.runs.summary import record_lost, row_from_folder
from mnist_doctor.vocabulary import RunStatus

MAX_RETRIES = 0
TASK_CPUS = 1
POLL_SECONDS = 1.0  # ray.wait wakes up this often, so Ctrl-C is handled promptly


class RayUnavailable(RuntimeError):
    """Ray is not installed: say how to add it."""


def require_ray():
    """The ray module, or RayUnavailable with the install line."""
    try:
        import ray
    except ImportError as err:
        raise RayUnavailable("--executor ray needs Ray; install it with "
                             "pip install 'mnist-doctor[ray]'") from err
    return ray


class RayExecutor:
    """Submits every run as a task (at most `jobs` in flight if given) and gathers the rows."""

    task_function = staticmethod(run_task)  # what a Ray task runs (tests swap in a crash)

    def __init__(self, address: str | None, jobs: int | None, reporter):
        self.address, self.reporter = address, reporter
        self.jobs = jobs if jobs and jobs > 0 else None

    def run(self, tasks: list[RunTask], done: Done) -> None:
        ray = require_ray()
        started_here = self._connect(ray)
        try:
            self._run(ray, tasks, done)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self, ray) -> bool:
        """Join the cluster at `address` (or start a local instance); reuse a live connection."""
        if ray.is_initialized():
            return False
        local = {"include_dashboard": False} if self.address is None else {}
        try:
            ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING,
                     **local)
        except (ConnectionError, ValueError, TimeoutError) as err:
            where = f"the Ray cluster at {self.address}" if self.address else "local Ray"
            raise RuntimeError(f"cannot start or join {where}: {err}") from err
        return True

    def _run(self, ray, tasks: list[RunTask], done: Done) -> None:
        remote = ray.remote(num_cpus=TASK_CPUS, max_calls=1, max_retries=MAX_RETRIES,
                            retry_exceptions=False)(self.task_function)
        waiting, pending = list(tasks), {}
        progress = self.reporter.start(f"{len(tasks)} runs as Ray tasks", len(tasks))
        try:
            while waiting or pending:
                while waiting and (self.jobs is None or len(pending) < self.jobs):
                    task = waiting.pop(0)
                    pending[remote.remote(task)] = task
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                for ref in ready:
                    row = self._result(ray, ref, pending.pop(ref))
                    done(row[0], row[1])
                    progress(len(tasks) - len(waiting) - len(pending), len(tasks),
                             float("nan"), float("nan"))
        except KeyboardInterrupt:
            self._cancel(ray, pending, done)
            raise

    @staticmethod
    def _result(ray, ref, task: RunTask) -> tuple[RunTask, dict]:
        """The task's row; a task that raised or whose worker died becomes a failed run."""
        try:
            return task, ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            message = (f"{type(cause).__name__}: {cause}" if cause is not None
                       else str(err).splitlines()[0])
        except ray.exceptions.RayError as err:  # WorkerCrashedError, NodeDiedError, OOM, ...
            message = f"Ray {type(err).__name__}: {str(err).splitlines()[0][:300]}"
        return task, record_lost(task.config, Path(task.invocation_dir), RunStatus.FAILED,
                                  message)

    @staticmethod
    def _cancel(ray, pending: dict, done: Done) -> None:
        """Ctrl-C: cancel every task (a running one gets KeyboardInterrupt and records itself
        as interrupted), wait for them, then read each started run's row from its folder."""
        for ref in pending:
            ray.cancel(ref)
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: stop waiting
            ray.wait(list(pending), num_returns=len(pending), timeout=STOP_GRACE_SECONDS)
        for task in pending.values():
            invocation_dir = Path(task.invocation_dir)
            folder = invocation_dir / safe_name(task.config.name)
            if folder.is_dir():
                row = row_from_folder(folder, invocation_dir) or record_lost(
                    task.config, invocation_dir, RunStatus.INTERRUPTED, "cancelled after Ctrl-C")
                done(task, row)
