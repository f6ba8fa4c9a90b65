"""Expectations: the `expect:` block of a config, parsed (the doctor evaluates it after a run).

A forum reproduction or a CI sweep states what a run must show (an accuracy range, whether the
loss goes non-finite, which diagnosis codes must or must not appear); after the run, each clause
becomes one `Check` with a verdict and a sentence that spells out the measured number, so a
failing build says *what* drifted, not just that something did. Pure Python, no TensorFlow.

Metric names are the final numbers of run.json (`final_loss` is the final test loss, the number
the forum threads print). The diagnosis vocabulary is `mnist_doctor.vocabulary.CODES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mnist_doctor.config.errors import did_you_mean
from mnist_doctor.config.numbers import as_number
from mnist_doctor.vocabulary import CODES

# metric name -> (where it lives in run.json, key); `final_loss` is the forum threads' number.
METRICS = {
    "test_accuracy": ("final", "test_accuracy"),
    "train_accuracy": ("final", "train_accuracy"),
    "best_test_accuracy": ("final", "best_test_accuracy"),
    "final_loss": ("final", "test_loss"),
    "test_loss": ("final", "test_loss"),
    "train_loss": ("final", "train_loss"),
    "wall_seconds": (None, "wall_seconds"),
}
CODE_KEYS = ("diagnosis", "no_diagnosis", "cured_by")
EXPECT_KEYS = (*METRICS, "nan", "root_cause", *CODE_KEYS)
BOUND_KEYS = ("min", "max")


@dataclass(frozen=True)
class Bound:
    """An inclusive range for one final metric; either end may be open."""

    metric: str
    min: float | None = None
    max: float | None = None

    @property
    def clause(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.metric} in [{self.min:g}, {self.max:g}]"
        if self.min is not None:
            return f"{self.metric} >= {self.min:g}"
        return f"{self.metric} <= {self.max:g}"


@dataclass(frozen=True)
class Expect:
    """A parsed `expect:` block. `nan` None means "either way"."""

    bounds: tuple[Bound, ...] = ()
    nan: bool | None = None
    diagnosis: tuple[str, ...] = ()
    no_diagnosis: tuple[str, ...] = ()
    root_cause: str | None = None       # the first finding after ranking (trials, if any)
    cured_by: tuple[str, ...] = ()      # findings whose fix a treatment trial showed cures

    def to_yaml(self) -> dict:
        """The block as a user writes it, so the resolved config.yaml loads back unchanged."""
        out: dict[str, Any] = {}
        for bound in self.bounds:
            out[bound.metric] = {k: getattr(bound, k) for k in BOUND_KEYS
                                 if getattr(bound, k) is not None}
        if self.nan is not None:
            out["nan"] = self.nan
        if self.root_cause is not None:
            out["root_cause"] = self.root_cause
        for key in CODE_KEYS:
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        return out


# -- parsing ---------------------------------------------------------------------------------
Problem = Callable[[str, str], None]




def parse_expect(raw: Any, problem: Problem, key: str = "expect") -> Expect | None:
    """Validate an `expect:` mapping; report each problem as (dotted key, message)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        problem(key, "expected a mapping of clauses (e.g. test_accuracy: {min: 0.9}, nan: false,"
                     f" diagnosis: [code]), got {raw!r}")
        return None
    bounds: list[Bound] = []
    for name in raw:
        if name not in EXPECT_KEYS:
            problem(f"{key}.{name}", f"unknown metric{did_you_mean(name, EXPECT_KEYS)}; allowed: "
                                     f"{', '.join(EXPECT_KEYS)}")
        elif name in METRICS:
            bound = _parse_bound(name, raw[name], problem, f"{key}.{name}")
            bounds.extend([bound] if bound else [])
    nan = raw.get("nan")
    if nan is not None and not isinstance(nan, bool):
        problem(f"{key}.nan", f"expected true or false, got {nan!r}")
        nan = None
    codes = {k: _parse_codes(raw.get(k), problem, f"{key}.{k}") for k in CODE_KEYS}
    for code in sorted(set(codes["diagnosis"]) & set(codes["no_diagnosis"])):
        problem(f"{key}.no_diagnosis", f"{code!r} is also listed under {key}.diagnosis")
    root = raw.get("root_cause")
    if root is not None and root not in CODES:
        problem(f"{key}.root_cause", f"unknown finding code {root!r}{did_you_mean(root, CODES)}")
        root = None
    return Expect(bounds=tuple(bounds), nan=nan, root_cause=root, **codes)


def _parse_bound(metric: str, raw: Any, problem: Problem, key: str) -> Bound | None:
    if not isinstance(raw, dict) or not raw:
        problem(key, f"expected {{min: A, max: B}} (either may be left out), got {raw!r}")
        return None
    values: dict[str, float] = {}
    for name, value in raw.items():
        if name not in BOUND_KEYS:
            problem(f"{key}.{name}",
                    f"unknown key{did_you_mean(name, BOUND_KEYS)}; allowed: min, max")
        elif as_number(value) is None:
            problem(f"{key}.{name}", f"expected a number, got {value!r}")
        else:
            values[name] = float(as_number(value))
    if "min" in values and "max" in values and values["min"] > values["max"]:
        problem(key, f"min {values['min']:g} is above max {values['max']:g}")
        return None
    return Bound(metric, values.get("min"), values.get("max")) if values else None


def _parse_codes(raw: Any, problem: Problem, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problem(key, f"expected a list of diagnosis codes, got {raw!r}")
        return ()
    known = CODES
    codes = []
    for index, code in enumerate(raw):
        if code not in known:
            problem(f"{key}[{index}]", f"unknown diagnosis code {code!r}"
                                       f"{did_you_mean(code, known)}; allowed: {', '.join(known)}")
        elif code not in codes:
            codes.append(code)
    return tuple(codes)
