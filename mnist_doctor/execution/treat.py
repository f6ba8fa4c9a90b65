"""Treatment trials: change one thing, rerun, compare; then the combination when nothing alone
cures, and the best verified config written as fixed.yaml.

Trials are ordinary runs, trained with the treated run's seed, data and step budget (unless
`trial_steps` shortens them) through the same `run_batch` and executors as any sweep, so they
fan out over worker processes or a Ray cluster, and they land as run folders in
`<run>/treatments/`. Trials are never treated themselves. The verdicts are the doctor's: it
reads the trial folders back (doctor/trials.py, doctor/treatment.py).
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from mnist_doctor.config.changes import apply_changes, describe_changes
from mnist_doctor.config.loader import load_config
from mnist_doctor.config.schema import ExperimentConfig, safe_name
from mnist_doctor.doctor.diagnose import Diagnosis, full_diagnosis, write_diagnosis
from mnist_doctor.doctor.expect import check_run
from mnist_doctor.doctor.findings import Finding, Fix
from mnist_doctor.doctor.fixes import standard_optimizer
from mnist_doctor.doctor.treatment import (
    COMBINED,
    CURES,
    REFERENCE,
    SINGLE,
    combination,
    combined_fix,
    follow_ups,
)
from mnist_doctor.doctor.trials import Planned, read_plan, trial_findings, write_plan
from mnist_doctor.execution.batch import Execution, run_batch
from mnist_doctor.execution.runner import RunOptions
from mnist_doctor.runs.folder import write_atomic, write_json
from mnist_doctor.runs.layout import CONFIG_FILE, FIXED_FILE, RUN_FILE, TREATMENTS_DIR
from mnist_doctor.runs.read import read_run_json
from mnist_doctor.runs.summary import refresh_diagnosis_cells
from mnist_doctor.vocabulary import RECORDED, Severity

# Single-fix trials per run at most, taken in the doctor's order (errors first): enough for
# every distinct fix of a typical diagnosis, bounded so --treat costs a few runs, not dozens.
MAX_SINGLE_TRIALS = 8


class TreatError(RuntimeError):
    """A run folder that cannot be treated (not finished, no config)."""


@dataclass
class Treatment:
    """What treating one run did: its diagnosis with trials, fixed.yaml, and what it cost."""

    run_dir: Path
    name: str
    diagnosis: Diagnosis
    fixed: Path | None
    trials: int
    seconds: float


def treat_run(run_dir: Path, source, options: RunOptions | None = None,
              execution: Execution | None = None, reporter=None,
              trial_steps: int | None = None) -> Treatment:
    """Run the trials one finished run calls for and write what they show next to it."""
    run_dir = Path(run_dir).resolve()
    config, info = _treatable(run_dir)
    started = time.perf_counter()
    _set_aside_old_trials(run_dir)
    diagnosis = full_diagnosis(run_dir)
    planned = plan_trials(diagnosis.findings, config)
    _run(run_dir, config, planned, source, options, execution, reporter, trial_steps)
    diagnosis = full_diagnosis(run_dir)
    extra = second_round(run_dir, diagnosis, planned)
    if extra:
        _run(run_dir, config, planned + extra, source, options, execution, reporter,
             trial_steps, only=extra)
        diagnosis = full_diagnosis(run_dir)
    write_diagnosis(run_dir, diagnosis)
    if config.expect is not None:  # expectations may name the root cause or the cure
        write_json(run_dir / RUN_FILE, {**info, "checks": check_run(config.expect, info, run_dir)})
    fixed = write_fixed(run_dir, config, diagnosis, trial_steps)
    refresh_diagnosis_cells(run_dir.parent)
    return Treatment(run_dir, config.name, diagnosis, fixed, len(read_plan(run_dir)),
                     round(time.perf_counter() - started, 3))


def treat_batch(invocation_dir: Path, rows: list[dict], source, options: RunOptions,
                execution: Execution | None, reporter, trial_steps: int | None) -> list[dict]:
    """Treat each completed or diverged run of an invocation, one after another (each run's
    trials fan out over the executor); return the rows with their new top finding."""
    treated = []
    for row in rows:
        if row.get("status") in RECORDED:
            treatment = treat_run(Path(invocation_dir) / row["run_dir"], source, options,
                                  execution, reporter, trial_steps)
            findings = treatment.diagnosis.findings
            row = {**row, "diagnosis": findings[0].code if findings else ""}
        treated.append(row)
    return treated


def second_round(run_dir: Path, diagnosis: Diagnosis, planned: list[Planned]) -> list[Planned]:
    """When no single fix cures: the combination of the most helpful fixes, and follow-ups
    that fix what a first fix uncovered (doctor/treatment.py decides which)."""
    verdicts = diagnosis.verdicts
    if verdicts is None or verdicts.cured or not verdicts.trials:
        return []
    candidates = [(codes, fix) for codes, fix in follow_ups(
        verdicts.trials, diagnosis.before, trial_findings(run_dir, verdicts.trials))]
    fixes = combination(diagnosis.findings, verdicts.trials, diagnosis.before)
    if fixes:
        candidates.insert(0, (tuple(code for code, _ in fixes),
                              combined_fix([fix for _, fix in fixes])))
    extra: list[Planned] = []
    for codes, fix in candidates:
        if all(fix.changes != entry.fix.changes for entry in planned + extra):
            extra.append(Planned(fix, codes, COMBINED, _folder(fix.name, planned + extra)))
    return extra


def plan_trials(findings: list[Finding], config: ExperimentConfig) -> list[Planned]:
    """One trial per distinct fix of the findings, in their order; a run with no error
    finding gets one reference trial instead (Adam at 0.001, all else equal)."""
    if not any(finding.severity == Severity.ERROR for finding in findings):
        reference = standard_optimizer(config)
        same = apply_changes(config, reference.changes).config_hash() == config.config_hash()
        return [] if same else [Planned(Fix("reference-adam", reference.changes,
                                            reference.summary), (), REFERENCE, "reference-adam")]
    by_changes: dict[str, tuple[Fix, list[str]]] = {}
    for finding in findings:
        for fix in finding.fixes:
            key = json.dumps(fix.changes, sort_keys=True, default=str)
            if key not in by_changes and _changes_config(config, fix):
                by_changes[key] = (fix, [])
            if key in by_changes:
                by_changes[key][1].append(finding.code)
    planned: list[Planned] = []
    for fix, codes in list(by_changes.values())[:MAX_SINGLE_TRIALS]:
        planned.append(Planned(fix, tuple(codes), SINGLE, _folder(fix.name, planned)))
    return planned


def _changes_config(config: ExperimentConfig, fix: Fix) -> bool:
    """A fix that leaves the config as it is (He init on a layer that has it) is no trial."""
    return apply_changes(config, fix.changes).config_hash() != config.config_hash()


def _folder(name: str, planned: list[Planned]) -> str:
    taken, folder, suffix = {entry.folder for entry in planned}, safe_name(name), 1
    while (folder if suffix == 1 else f"{folder}-{suffix}") in taken:
        suffix += 1
    return folder if suffix == 1 else f"{folder}-{suffix}"


def _run(run_dir: Path, config: ExperimentConfig, planned: list[Planned], source, options,
         execution, reporter, trial_steps: int | None, only: list[Planned] | None = None) -> None:
    write_plan(run_dir, planned)
    budget = {"train.steps": trial_steps, "train.epochs": None} if trial_steps else {}
    configs = [apply_changes(config, {**entry.fix.changes, **budget}, name=entry.folder)
               for entry in (planned if only is None else only)]
    if configs:
        run_batch(configs, run_dir / TREATMENTS_DIR, source, options, execution, reporter)


def _treatable(run_dir: Path) -> tuple[ExperimentConfig, dict]:
    if not (run_dir / CONFIG_FILE).is_file():
        raise TreatError(f"{run_dir}: not a run folder (no {CONFIG_FILE})")
    info = read_run_json(run_dir) or {}
    if info.get("status") not in RECORDED:
        raise TreatError(f"{run_dir}: the run is {info.get('status') or 'unfinished'}; only a "
                         "completed or diverged run can be treated (rerun it first)")
    return load_config(run_dir / CONFIG_FILE), info


def _set_aside_old_trials(run_dir: Path) -> None:
    """A second treatment starts clean; the first one's trials stay, renamed, never deleted."""
    old = run_dir / TREATMENTS_DIR
    if not old.exists():
        return
    suffix = 1
    while (run_dir / f".{TREATMENTS_DIR}-{suffix}").exists():
        suffix += 1
    os.rename(old, run_dir / f".{TREATMENTS_DIR}-{suffix}")
    if (run_dir / FIXED_FILE).is_file():
        os.rename(run_dir / FIXED_FILE, run_dir / f".{TREATMENTS_DIR}-{suffix}" / FIXED_FILE)


def write_fixed(run_dir: Path, config: ExperimentConfig, diagnosis: Diagnosis,
                trial_steps: int | None = None) -> Path | None:
    """fixed.yaml: the best verified config, headed by what changed and what it measured."""
    verdicts = diagnosis.verdicts
    best = verdicts.best if verdicts is not None else None
    if best is None or best.verdict != CURES or diagnosis.before is None:
        return None
    fixed = apply_changes(config, {**best.fix.changes, "description": (
        f"{config.name} with {best.fix.summary}, verified by a mnist-doctor treatment trial.")},
        name=f"{config.name}-fixed")
    before = diagnosis.before.test_accuracy
    budget = f"{trial_steps} steps (shortened)" if trial_steps else "the same seed, data and budget"
    header = [
        f"mnist-doctor fixed.yaml for {config.name}: {best.fix.summary}.",
        f"Changed: {describe_changes(best.fix.changes)}",
        f"Measured: test accuracy {_acc(before)} -> {_acc(best.test_accuracy)} with {budget}"
        f" (trial {best.run_dir}).",
        verdicts.sentence,
    ]
    comments = "".join(f"# {part}\n" for line in header for part in textwrap.wrap(line, 98))
    text = comments + yaml.safe_dump(fixed.to_yaml_dict(), sort_keys=False, allow_unicode=True)
    path = run_dir / FIXED_FILE
    write_atomic(path, text)
    return path


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
