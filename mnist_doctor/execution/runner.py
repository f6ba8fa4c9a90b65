"""One run, start to finish: its folder, data, model, training, diagnosis and expectations.

`run_one` is what every executor calls, in this process or in a worker. A run that raises is
recorded as failed (a status, not a crash); Ctrl-C records the partial run as interrupted and
re-raises it as `RunInterrupted`, carrying the run's summary row so the sweep's summary keeps it.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from mnist_doctor.config.schema import ExperimentConfig
from mnist_doctor.data.mnist import DataSource, prepare
from mnist_doctor.doctor.diagnose import diagnose_run_dir, write_diagnosis
from mnist_doctor.doctor.expect import check_run
from mnist_doctor.runs.folder import RunFolder, now_iso, package_versions
from mnist_doctor.runs.layout import DIAGNOSIS_ERROR_FILE
from mnist_doctor.runs.summary import DOCTOR_ERROR, summary_row
from mnist_doctor.vocabulary import RunStatus


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run, carrying that run's summary row so the summary keeps it."""

    def __init__(self, row: dict):
        super().__init__()
        self.row = row


class NullReporter:
    """Progress sink that shows nothing (--quiet, tests)."""

    def start(self, name: str, total: int):
        return lambda step, total, loss, accuracy: None

    def finish(self, row: dict) -> None:
        pass


@dataclass(frozen=True)
class RunOptions:
    doctor: bool = True
    device: str = "auto"
    jit: bool = True


def run_one(config: ExperimentConfig, invocation_dir: Path, source: DataSource,
            options: RunOptions, device: str, reporter) -> dict:
    folder = RunFolder(invocation_dir, config, telemetry=options.doctor)
    info = {"name": config.name, "status": RunStatus.RUNNING, "seed": config.seed,
            "config_hash": config.config_hash(), "config_path": config.path,
            "device": device, "versions": package_versions(), "started_at": now_iso()}
    started = time.perf_counter()
    interrupted = False
    try:
        info["backend"] = _backend()
        outcome = _train(config, source, folder, options, reporter, info)
        info.update(_outcome_fields(outcome))
    except KeyboardInterrupt:
        info.update(status=RunStatus.INTERRUPTED, error="interrupted by the user (Ctrl-C)")
        interrupted = True
    except Exception as err:  # noqa: BLE001 - a failed run is data; the sweep goes on
        info.update(status=RunStatus.FAILED, error=error_line(err),
                    traceback=traceback.format_exc(limit=8))
    finally:
        info["wall_seconds"] = round(time.perf_counter() - started, 3)
        _release_memory()
        info.update(_memory_mb())
        folder.close()
        folder.write_run_info(info)
    diagnosis = _diagnose(folder.path)
    if config.expect is not None:  # after the doctor: expectations may name its codes
        info["checks"] = check_run(config.expect, info, folder.path)
        folder.write_run_info(info)
    row = summary_row(info, folder.path, invocation_dir, diagnosis)
    if interrupted:
        raise RunInterrupted(row)
    return row


def error_line(err: BaseException) -> str:
    """`Type: message` on one line. TensorFlow wraps graph errors as 'in user code:' followed
    by a traceback; the message that explains is then its last line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    message = lines[-1] if lines and lines[0].endswith("in user code:") else (lines or [""])[0]
    return f"{type(err).__name__}: {message[:300]}"


def _backend() -> str:
    from mnist_doctor.train.backends import backend_name

    return backend_name()


def _train(config, source, folder, options, reporter, info):
    from mnist_doctor.model.build import build_model, make_optimizer
    from mnist_doctor.model.losses import make_loss
    from mnist_doctor.train import backends
    from mnist_doctor.train.gradient_jitter import gradient_perturbation
    from mnist_doctor.train.schedule import STEPS_PER_CALL, batch_shapes, total_steps
    from mnist_doctor.train.trainer import Trainer

    backend = backends.active()

    data = prepare(source.load(config.data), config.data)
    info["train_size"] = len(data.x_train)

    def make_stepper(jit: bool):
        # the weights and dropout masks are mnist-doctor's own seeded draws (model/), so a
        # fallback rebuild starts from the same weights, and no Keras generator needs a seed
        return backend.stepper(build_model(config), make_optimizer(config), make_loss(config),
                               config.loss_reduction, data.x_train, data.y_train, jit=jit,
                               steps_per_call=STEPS_PER_CALL, perturb=gradient_perturbation(config))

    compiling = time.perf_counter()
    jit, path_reason = (backend.compile_choice(config) if options.jit
                        else (False, "XLA turned off"))
    shapes = batch_shapes(config, len(data.x_train))
    stepper, execution = backends.build_stepper(make_stepper, shapes, jit=jit)
    info["execution"] = {**execution, "path_reason": path_reason,
                         "steps_per_call": STEPS_PER_CALL,
                         "compile_seconds": round(time.perf_counter() - compiling, 3),
                         "compile_cache": backends.compile_cache_in_use()}
    progress = reporter.start(config.name, total_steps(config, len(data.x_train)))
    trainer = Trainer(config, data, folder, stepper, doctor=options.doctor, progress=progress)
    try:
        return trainer.run()
    finally:
        info.update(_outcome_fields(trainer.outcome))


def _release_memory() -> None:
    from mnist_doctor.train.backends import release_memory

    release_memory()


def _memory_mb() -> dict:
    """The process's peak resident memory so far and its resident memory now (Linux), in MB."""
    import resource

    memory = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        memory["rss_mb"] = round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return memory
    # ru_maxrss is sampled by the kernel and can trail the current figure by a page or two
    memory["peak_rss_mb"] = max(memory["peak_rss_mb"], memory["rss_mb"])
    return memory


def _outcome_fields(outcome) -> dict:
    return {"status": outcome.status, "steps_completed": outcome.steps_completed,
            "epochs_completed": round(outcome.epochs_completed, 4),
            "first_nan_step": outcome.first_nan_step,
            "first_nan_epoch": outcome.first_nan_epoch,
            "first_nonfinite_layer": outcome.first_nonfinite_layer,
            "final": outcome.final, "telemetry_seconds": round(outcome.telemetry_seconds, 3)}


def _diagnose(run_dir: Path) -> str:
    """Diagnose from the files just written; return the top finding's code."""
    try:
        findings = diagnose_run_dir(run_dir)
        write_diagnosis(run_dir, findings)
    except Exception as err:  # noqa: BLE001 - a doctor bug must not lose a finished run
        (run_dir / DIAGNOSIS_ERROR_FILE).write_text(f"{type(err).__name__}: {err}\n")
        return DOCTOR_ERROR
    return findings[0].code if findings else ""
