"""`--resume RUN_DIR`: keep the runs an invocation folder has recorded, rerun the rest in place.

A run is kept when its run.json says `completed` or `diverged` with the same config hash: a NaN
loss is a result the sweep exists to record, and the same seed would diverge again. Everything
else is rerun: `failed` (an error), `interrupted`, a run.json that says `running`, is unreadable
or is missing (a killed run), and a config hash that no longer matches (the config changed).
The old folder is first moved whole into `.superseded/` (one rename: atomic, nothing deleted),
so the rerun gets the same folder name and a partial file never passes for a finished one.
An `.lock` file keeps two invocations from writing into one invocation folder at once.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mnist_doctor.config.schema import ExperimentConfig, safe_name
from mnist_doctor.runs.read import read_run_json
from mnist_doctor.runs.summary import row_from_folder
from mnist_doctor.vocabulary import RECORDED, RunStatus

SUPERSEDED = ".superseded"
LOCK = ".lock"


@dataclass
class ResumePlan:
    """Which runs of the plan are already recorded (with their rows) and which must run."""

    kept: dict[int, dict] = field(default_factory=dict)
    todo: list[int] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        why = ", ".join(f"{count} {reason}" for reason, count in self.reasons.most_common())
        return (f"resume: {len(self.kept)} recorded run{'s' if len(self.kept) != 1 else ''} "
                f"kept; {len(self.todo)} to run" + (f" ({why})" if why else ""))


def plan_resume(configs: list[ExperimentConfig], invocation_dir: Path) -> ResumePlan:
    """Decide run by run; move every folder that will be rerun into `.superseded/`."""
    plan = ResumePlan()
    folders = _folders_by_name(invocation_dir)
    for index, config in enumerate(configs):
        own = invocation_dir / safe_name(config.name)
        candidates = list(dict.fromkeys(folders.get(config.name, []) +
                                        ([own] if own.is_dir() else [])))
        reason, keep = _decide(candidates, config.config_hash())
        row = row_from_folder(keep, invocation_dir) if keep is not None else None
        if row is not None:
            plan.kept[index] = row
            continue
        for folder in candidates:
            move_aside(folder, invocation_dir)
        plan.todo.append(index)
        plan.reasons[reason] += 1
    return plan


def _decide(candidates: list[Path], config_hash: str) -> tuple[str, Path | None]:
    """(why it reruns, None) or ("kept", the folder holding its recorded result)."""
    if not candidates:
        return "not started", None
    infos = [(folder, read_run_json(folder)) for folder in candidates]
    for folder, info in infos:
        if info and info.get("status") in RECORDED and info.get("config_hash") == config_hash:
            return "kept", folder
    info = infos[0][1]
    finished = (*RECORDED, RunStatus.FAILED, RunStatus.INTERRUPTED)
    if info is None or info.get("status") not in finished:
        return "partial", None
    if info["status"] in RECORDED:
        return "config changed", None
    return str(info["status"]), None


def _folders_by_name(invocation_dir: Path) -> dict[str, list[Path]]:
    """Run name -> run folders, the name read from run.json, else config.yaml, else the folder."""
    found: dict[str, list[Path]] = {}
    for folder in sorted(p for p in invocation_dir.iterdir()
                         if p.is_dir() and not p.name.startswith(".")):
        found.setdefault(_run_name(folder), []).append(folder)
    return found


def _run_name(folder: Path) -> str:
    info = read_run_json(folder)
    if info and info.get("name"):
        return str(info["name"])
    try:
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        return str(config["name"])
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return folder.name


def move_aside(folder: Path, invocation_dir: Path) -> Path:
    """Rename a run folder into `.superseded/` under a free name; return where it went."""
    target_dir = invocation_dir / SUPERSEDED
    target_dir.mkdir(exist_ok=True)
    for attempt in range(1, 10_000):
        target = target_dir / (folder.name if attempt == 1 else f"{folder.name}-{attempt}")
        if not target.exists():
            os.rename(folder, target)
            return target
    raise RuntimeError(f"cannot move {folder} aside: {target_dir} is full")


class FolderInUse(RuntimeError):
    """Another live invocation holds the invocation folder's lock."""


@contextlib.contextmanager
def invocation_lock(invocation_dir: Path):
    """Hold `<invocation>/.lock` (this process's pid) while runs write into the folder.

    Created with O_EXCL; a lock left by a killed invocation (its pid is gone) is taken over.
    """
    path = invocation_dir / LOCK
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            holder = _lock_holder(path)
            if _alive(holder) if holder is not None else _just_made(path):
                raise FolderInUse(f"{invocation_dir} is in use by another mnist-doctor "
                                  f"(pid {holder}); wait for it or stop it first") from None
            path.unlink(missing_ok=True)
    else:
        raise FolderInUse(f"{invocation_dir}: cannot take {LOCK}")
    with os.fdopen(handle, "w") as stream:
        stream.write(f"{os.getpid()}\n")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _lock_holder(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _just_made(path: Path) -> bool:
    """An empty lock younger than a few seconds: its owner has not written its pid yet."""
    try:
        return time.time() - path.stat().st_mtime < 5
    except OSError:
        return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
