"""The run folder's contract: fixed file names, CSV columns, and what counts as a run folder.

docs/run-format.md describes the same contract for people; this module is its one owner in code.
Every writer and every reader in mnist-doctor takes its names from here.
"""

from __future__ import annotations

from pathlib import Path

# Files of one run folder.
CONFIG_FILE = "config.yaml"        # the resolved config (defaults filled in)
METRICS_FILE = "metrics.csv"       # one row per evaluation, flushed as produced
TELEMETRY_FILE = "telemetry.csv"   # the doctor's probes, long form
RUN_FILE = "run.json"              # status, seed, versions, device, final metrics
DIAGNOSIS_FILE = "diagnosis.json"  # findings, root cause first
DIAGNOSIS_ERROR_FILE = "diagnosis_error.txt"  # the doctor itself failed on this run
TREATMENTS_DIR = "treatments"      # the run's treatment trials: an invocation folder of runs
TREATMENT_PLAN_FILE = "plan.json"  # in TREATMENTS_DIR: which fix each trial applied, and why
FIXED_FILE = "fixed.yaml"          # the best verified config, written next to the run
# Files of one invocation folder.
SUMMARY_FILE = "summary.csv"
POINTS_FILE = "summary_points.csv"
CURVES_FILE = "curves.png"
REPORT_FILE = "report.html"
INVOCATION_FILE = "invocation.json"  # the config files an invocation was given (for --resume)

METRICS_COLUMNS = ("epoch", "step", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                   "seconds", "nan")
TELEMETRY_COLUMNS = ("step", "layer", "metric", "value")
SUMMARY_COLUMNS = ("name", "status", "train_accuracy", "test_accuracy", "train_loss", "test_loss",
                   "best_test_accuracy", "first_nan_step", "first_nan_epoch", "wall_seconds",
                   "diagnosis", "run_dir", "backend", "device", "point", "seed")


def is_run_dir(path: Path) -> bool:
    """A run folder holds its run.json, or at least its config.yaml (a run killed before it
    could write run.json is still a run: its metrics.csv holds what it recorded)."""
    return (path / RUN_FILE).is_file() or (path / CONFIG_FILE).is_file()


def find_run_dirs(path: str | Path) -> list[Path]:
    """A run folder itself, or the run folders directly inside an invocation folder, in name
    order (hidden folders such as `.superseded/` are not runs of the invocation)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a folder")
    if is_run_dir(path):
        return [path]
    return sorted(child for child in path.iterdir()
                  if child.is_dir() and not child.name.startswith(".") and is_run_dir(child))
