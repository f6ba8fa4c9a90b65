"""Writing run folders: exclusive creation, atomic whole files, CSV rows flushed as produced.

Folders are created exclusively, so two invocations never write into the same run; whole files
(config.yaml, run.json, summary.csv) are written atomically through a temporary file and
os.replace, and CSV rows are flushed as they are produced, so a kill leaves every finished
row and never a half-written file that looks complete.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import tempfile
from datetime import datetime
from importlib import metadata
from pathlib import Path

import yaml

from mnist_doctor.config.schema import ExperimentConfig, safe_name
from mnist_doctor.runs.events import EventWriter
from mnist_doctor.runs.layout import (
    CONFIG_FILE,
    INVOCATION_FILE,
    METRICS_COLUMNS,
    METRICS_FILE,
    RUN_FILE,
    TELEMETRY_COLUMNS,
    TELEMETRY_FILE,
    find_run_dirs,
)


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file so that readers see either the old file or the complete new one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
        os.fchmod(stream.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; files follow umask
    os.replace(temporary, path)


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class OutputFolderError(RuntimeError):
    """The invocation folder cannot be created or written; the message says where and why."""


def _exclusive_dir(parent: Path, name: str) -> Path:
    """Create parent/name, or name-2, name-3, ... if taken: never reuse another run's folder."""
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 10_000):
        candidate = parent / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder for {name!r} in {parent}")


def create_invocation_dir(out: str | Path | None, label: str | None = None,
                          root: Path = Path("runs")) -> Path:
    """`--out DIR` as given, else runs/<YYYYmmdd-HHMMSS>[-label]."""
    if out is not None and Path(out).is_dir() and find_run_dirs(Path(out)):
        raise OutputFolderError(f"{out} already holds the runs of an earlier invocation; "
                                f"continue it with --resume {out}, or choose a new --out")
    try:
        if out is not None:
            path = Path(out)
            path.mkdir(parents=True, exist_ok=True)
        else:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = _exclusive_dir(root, f"{stamp}-{safe_name(label)}" if label else stamp)
        _probe_writable(path)
    except OSError as err:
        where = out if out is not None else root
        raise OutputFolderError(f"cannot write the output folder {where}: "
                                f"{err.strerror or err}") from err
    return path


def _probe_writable(path: Path) -> None:
    """Create and remove a file in `path`, so an unwritable folder fails before training."""
    with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
        pass


def record_configs(invocation_dir: Path, paths: list[str]) -> list[str]:
    """Add `paths` (made absolute) to invocation.json, keeping earlier ones: `--resume DIR`
    alone then knows every config the folder was given. Returns the full list."""
    known = read_configs(invocation_dir)
    paths = list(dict.fromkeys(known + [str(Path(path).resolve()) for path in paths]))
    write_json(invocation_dir / INVOCATION_FILE, {"configs": paths})
    return paths


def read_configs(invocation_dir: Path) -> list[str]:
    """The config files invocation.json records; else those the run folders' run.json name
    (folders written before invocation.json existed); [] when neither says."""
    try:
        data = json.loads((invocation_dir / INVOCATION_FILE).read_text(encoding="utf-8"))
        return [str(path) for path in data["configs"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = []
    for folder in find_run_dirs(invocation_dir) if invocation_dir.is_dir() else []:
        try:
            info = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("config_path"):
            found.append(str(Path(info["config_path"]).resolve()))
    return list(dict.fromkeys(found))


class CsvAppender:
    """A CSV file whose rows are on disk as soon as `write` returns."""

    def __init__(self, path: Path, columns: tuple[str, ...]):
        self.path = path
        self._stream = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._stream)
        self._writer.writerow(columns)
        self._stream.flush()

    def write(self, rows) -> None:
        self._writer.writerows(rows)
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()


class RunFolder:
    """One run's folder: resolved config, metrics, telemetry, TensorBoard events, run.json."""

    def __init__(self, invocation_dir: Path, config: ExperimentConfig, telemetry: bool):
        self.path = _exclusive_dir(invocation_dir, safe_name(config.name))
        write_atomic(self.path / CONFIG_FILE,
                     yaml.safe_dump(config.to_yaml_dict(), sort_keys=False, allow_unicode=True))
        self.metrics = CsvAppender(self.path / METRICS_FILE, METRICS_COLUMNS)
        self.telemetry = (CsvAppender(self.path / TELEMETRY_FILE, TELEMETRY_COLUMNS)
                          if telemetry else None)
        self.events = EventWriter(self.path)

    def write_metrics(self, rows) -> None:
        self.metrics.write(rows)
        self.events.metrics(rows)

    def write_telemetry(self, rows) -> None:
        if self.telemetry is not None:
            self.telemetry.write(rows)
            self.events.telemetry(rows)

    def write_run_info(self, info: dict) -> None:
        write_json(self.path / RUN_FILE, {**info, "events_seconds": round(self.events.seconds, 4)})

    def close(self) -> None:
        self.metrics.close()
        self.events.close()
        if self.telemetry is not None:
            self.telemetry.close()


def json_safe(value):
    """Plain JSON-ready types: numpy scalars become Python numbers, and non-finite numbers the
    strings 'nan', 'inf', '-inf' (strict JSON has no NaN; readers turn them back)."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(path: Path, data) -> None:
    """A JSON file written atomically, non-finite numbers as strings (see json_safe)."""
    write_atomic(path, json.dumps(json_safe(data), indent=2) + "\n")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "numpy", "jax", "jaxlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")

