"""The config language's one error type, and the "did you mean" hint every message shares."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """One config file's problems, each as (dotted key, message)."""

    def __init__(self, path: str | Path, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {key}: {msg}" for key, msg in problems))


def did_you_mean(word: Any, choices) -> str:
    """' (did you mean 'relu'?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(str(word), sorted(map(str, choices)), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
