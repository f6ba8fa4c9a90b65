"""Sweeps: `matrix:` and `repeats:` in a config file, expanded into one config per run.

Expansion works on the raw YAML mapping, before validation, so every grid point goes through
the same `Parser` as a hand-written config: a bad value in the matrix is reported exactly like
a bad value in the file, under its `matrix.<dotted key>`, before anything trains.

Naming (docs/run-format.md): a grid point is `<name>[<alias>=<value>,...]` with one alias per
matrix key (its last component; `optimizer.name` -> `optimizer`, `learning_rate` -> `lr`); with
`repeats: N > 1` the runs of a point are `<point>-seed<S>` for S = seed .. seed+N-1. Names are
stable (matrix order, values as written), so `--resume` finds the same folders again.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mnist_doctor.config.errors import ConfigError
from mnist_doctor.config.loader import parse_config, read_yaml
from mnist_doctor.config.schema import ExperimentConfig, safe_name

SWEEP_KEYS = ("matrix", "repeats")
UNSWEEPABLE = {"name", "description", "source", "matrix", "repeats"}
ALIASES = {"learning_rate": "lr"}
MAX_RUNS = 10_000          # a typo like `units: [16, ..., 4096]` x 5 keys must not start a week
MAX_NAME = 100             # leaves room for -seed<N> and -<n> within safe_name's 120 characters
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its validated config, the grid point it belongs to, and the point's
    matrix values as (alias, value) pairs; repeats of a point share `point` and `params`."""

    config: ExperimentConfig
    point: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def single(cls, config: ExperimentConfig) -> SweepRun:
        return cls(config, config.name)


@dataclass(frozen=True)
class Sweep:
    """Every run one config file expands to (a plain config is a sweep of one run)."""

    path: str
    runs: tuple[SweepRun, ...]
    shape: tuple[int, ...] = ()
    repeats: int = 1

    @property
    def is_sweep(self) -> bool:
        return bool(self.shape) or self.repeats > 1

    @property
    def name(self) -> str:
        """The config's own name, before grid-point and seed suffixes."""
        first = self.runs[0]
        return first.point.split("[", 1)[0] if first.params else first.point

    def describe(self) -> str:
        """E.g. `2x2x2 grid x 3 repeats = 24 runs (activation, optimizer, lr)`; `1 run`."""
        if not self.is_sweep:
            return "1 run"
        grid = "x".join(map(str, self.shape)) + (" grid" if len(self.shape) > 1 else "-point grid")
        parts = [grid] if self.shape else []
        if self.repeats > 1:
            parts.append(f"{self.repeats} repeats")
        swept = ", ".join(alias for alias, _ in self.runs[0].params)
        return f"{' x '.join(parts)} = {len(self.runs)} runs" + (f" ({swept})" if swept else "")


def load_sweep(path: str | Path) -> Sweep:
    """Read one YAML file (safe_load only) and expand it, or raise ConfigError."""
    return expand(read_yaml(path), path)


def expand(raw: Any, path: str | Path = "<config>") -> Sweep:
    """The runs of one raw config mapping; every problem of every grid point in one error."""
    if not isinstance(raw, dict) or not any(key in raw for key in SWEEP_KEYS):
        return Sweep(str(path), (SweepRun.single(parse_config(raw, path)),))
    problems: list[tuple[str, str]] = []
    matrix = _matrix(raw.get("matrix"), problems) if "matrix" in raw else []
    repeats = _repeats(raw.get("repeats", 1), problems)
    size = repeats * math.prod(len(values) for _, _, values in matrix)
    if size > MAX_RUNS:
        problems.append(("matrix", f"expands to {size} runs; at most {MAX_RUNS} are allowed"))
    if problems:
        raise ConfigError(path, problems)
    base = {key: value for key, value in raw.items() if key not in SWEEP_KEYS}
    runs = _runs(base, matrix, repeats, path)
    return Sweep(str(path), runs, tuple(len(values) for _, _, values in matrix), repeats)


def _matrix(section: Any, problems: list) -> list[tuple[str, list, list]]:
    """[(dotted key, parsed path, values)] in the order written; problems appended."""
    if not isinstance(section, dict) or not section:
        problems.append(("matrix", "expected a mapping of dotted keys to lists of values, "
                                   f"e.g. optimizer.learning_rate: [0.01, 0.1]; got {section!r}"))
        return []
    matrix = []
    for key, values in section.items():
        where = f"matrix.{key}"
        tokens = parse_dotted(str(key))
        if tokens is None:
            problems.append((where, "not a dotted key like optimizer.learning_rate or "
                                    "model.layers[0].activation"))
        elif tokens[0] in UNSWEEPABLE:
            problems.append((where, f"{tokens[0]} cannot be swept"))
        elif not isinstance(values, list) or not values:
            problems.append((where, f"expected a non-empty list of values, got {values!r}"))
        elif len({format_value(v) for v in values}) < len(values):
            problems.append((where, f"values repeat (as names): {values!r}"))
        else:
            matrix.append((str(key), tokens, values))
    return matrix


def _repeats(value: Any, problems: list) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(("repeats", f"expected an integer >= 1, got {value!r}"))
        return 1
    return value


def parse_dotted(key: str) -> list[str | int] | None:
    """`model.layers[0].activation` -> ['model', 'layers', 0, 'activation']; None if malformed."""
    tokens: list[str | int] = []
    for segment in key.split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            return None
        tokens.append(match.group(1))
        tokens.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return tokens


def _runs(base: dict, matrix: list, repeats: int, path) -> tuple[SweepRun, ...]:
    """Validate every point; collect all problems, relabelled to the matrix keys."""
    base_name = str(base.get("name") or Path(path).stem)
    aliases = aliases_for([tokens for _, tokens, _ in matrix])
    seed = base.get("seed", 0)
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    runs: list[SweepRun] = []
    grid = list(itertools.product(*(values for _, _, values in matrix)))
    for values in grid:
        point_raw, errors = _assign_all(base, matrix, values)
        params = tuple(zip(aliases, values, strict=True))
        point = point_name(base_name, params)
        for error in errors:
            found[error].append(point)
        for offset in range(0 if errors else repeats):
            run_raw = dict(point_raw, name=point)
            if repeats > 1 and isinstance(seed, int) and not isinstance(seed, bool):
                run_raw.update(seed=seed + offset, name=f"{point}-seed{seed + offset}")
            try:
                runs.append(SweepRun(parse_config(run_raw, path), point, params))
            except ConfigError as err:
                for key, message in err.problems:
                    found[_relabel(key, message, matrix)].append(point)
    if found:
        raise ConfigError(path, [_with_points(problem, points, len(grid))
                                 for problem, points in found.items()])
    return tuple(runs)


def _assign_all(base: dict, matrix: list, values) -> tuple[dict, list[tuple[str, str]]]:
    point_raw = copy.deepcopy(base)
    errors = []
    for (key, tokens, _), value in zip(matrix, values, strict=True):
        message = assign(point_raw, tokens, copy.deepcopy(value))
        if message:
            errors.append((f"matrix.{key}", message))
    return point_raw, errors


def _relabel(key: str, message: str, matrix: list) -> tuple[str, str]:
    """A Parser problem at (or under) a swept key is reported under `matrix.<key>`."""
    for dotted, _, _ in matrix:
        if key == dotted or key.startswith((dotted + ".", dotted + "[")):
            return f"matrix.{key}", message
    return key, message


def _with_points(problem: tuple[str, str], points: list[str], total: int) -> tuple[str, str]:
    """Say which grid point a problem comes from, unless it is in every point or obvious."""
    key, message = problem
    unique = list(dict.fromkeys(points))
    if key.startswith("matrix.") or len(unique) >= total:
        return key, message
    more = f" and {len(unique) - 1} more" if len(unique) > 1 else ""
    return key, f"{message} (in grid point {unique[0]}{more})"


def assign(target: dict, tokens: list[str | int], value: Any) -> str | None:
    """Set the value at a parsed dotted path; the reason it cannot be set, or None.

    A missing mapping on the way is created (sections like `optimizer:` are optional); a missing
    list item is an error, since there is nothing sensible to create.
    """
    node: Any = target
    for depth, token in enumerate(tokens):
        here = _dotted(tokens[:depth]) or "the config"
        last = depth == len(tokens) - 1
        if isinstance(token, int):
            if not isinstance(node, list):
                return f"{here} is not a list"
            if token >= len(node):
                return _no_item(tokens[depth - 1], token, here, len(node))
        elif not isinstance(node, dict):
            return f"{here} is not a mapping (it is {node!r})"
        elif not last and node.get(token) is None:
            if isinstance(tokens[depth + 1], int):
                return f"{_dotted(tokens[:depth + 1])} is not in the config"
            node[token] = {}
        if last:
            node[token] = value
            return None
        node = node[token]
    return None


def _no_item(container: str | int, index: int, where: str, size: int) -> str:
    if container == "layers":
        return f"no layer {index} ({where} has {size} layer{'s' if size != 1 else ''}: " \
               f"0..{size - 1})"
    return f"no item {index} ({where} has {size})"


def _dotted(tokens: list[str | int]) -> str:
    text = ""
    for token in tokens:
        text += f"[{token}]" if isinstance(token, int) else (f".{token}" if text else token)
    return text


def aliases_for(paths: list[list[str | int]]) -> list[str]:
    """Short column/name labels: last component, `name` -> its section, learning_rate -> lr;
    colliding labels get their layer (`L1.activation`) or, failing that, the full key."""
    plain = [_alias(tokens) for tokens in paths]
    short = [label if plain.count(label) == 1 else
             f"L{_layer_index(tokens)}.{label}" if _layer_index(tokens) is not None
             else _dotted(tokens) for label, tokens in zip(plain, paths, strict=True)]
    return [label if short.count(label) == 1 else _dotted(tokens)
            for label, tokens in zip(short, paths, strict=True)]


def _alias(tokens: list[str | int]) -> str:
    names = [t for t in tokens if isinstance(t, str)]
    label = names[-2] if names[-1] == "name" and len(names) > 1 else names[-1]
    return ALIASES.get(label, label)


def _layer_index(tokens: list[str | int]) -> int | None:
    for before, token in zip(tokens, tokens[1:], strict=False):
        if before == "layers" and isinstance(token, int):
            return token
    return None


def point_name(base: str, params: tuple[tuple[str, Any], ...]) -> str:
    """`base[alias=value,...]`, shortened with a digest if it would not fit a folder name."""
    name = f"{base}[{','.join(f'{a}={format_value(v)}' for a, v in params)}]" if params else base
    if len(safe_name(name)) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:MAX_NAME - 10]}~{digest}]" if params else f"{name[:MAX_NAME - 9]}~{digest}"


def format_value(value: Any) -> str:
    """A value as it reads in a name: 0.1, 1e-05, relu, true, {normal: {stddev: 1.0}}."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        text = f"{value:g}"
        return text if float(text) == value else repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
