"""Numbers as YAML hands them over.

YAML 1.1 (PyYAML's safe_load) reads `1e-3` and `1E5` as strings: only `1.0e-3` is a float. A
config author means a number, so every reader of a number in a config goes through `as_number`.
Booleans stay rejected (`true` is not 1).
"""

from __future__ import annotations

import math
import re
from typing import Any

# What a person writes as a number: 1e-3, -2.5E+4, .5, 10 (no nan/inf words, no hex).
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def as_number(value: Any) -> int | float | None:
    """`value` as an int or float, a numeric string like '1e-3' included; None when it is not
    a number (booleans, other strings, lists, NaN)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            return None
        number = float(text)
        return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return value
    return None
