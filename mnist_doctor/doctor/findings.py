"""What the doctor says: one `Finding` per problem, from a fixed vocabulary of codes.

The codes are a public contract (config `expect:` blocks and users' scripts match on them):
`vocabulary.Code` holds them. The order they are shown in is `ranking`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mnist_doctor.runs.folder import json_safe
from mnist_doctor.vocabulary import (
    CODES,
    SEVERITIES,
)


@dataclass(frozen=True)
class Fix:
    """One machine-applicable repair: dotted config keys to new values (the `matrix:` language),
    a short folder-safe name for its trial, and what it changes in words."""

    name: str
    changes: dict
    summary: str

    def to_dict(self) -> dict:
        return {"name": self.name, "changes": json_safe(self.changes), "summary": self.summary}

    @classmethod
    def from_dict(cls, data: dict) -> Fix:
        return cls(str(data["name"]), dict(data.get("changes") or {}), str(data.get("summary", "")))


@dataclass(frozen=True)
class Finding:
    """One diagnosed problem: what, where, when, the numbers that show it, and the fix."""

    code: str
    severity: str
    message: str
    fix: str
    layer: str | None = None
    step: int | None = None
    evidence: dict = field(default_factory=dict)
    fixes: tuple[Fix, ...] = ()  # the `fix` sentence as config changes; trials decide among them

    def __post_init__(self):
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}; allowed: {', '.join(CODES)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, "
                             f"got {self.severity!r}")

    def to_dict(self) -> dict:
        """Plain JSON-ready types; non-finite numbers become the strings 'nan'/'inf'."""
        return {
            "code": self.code,
            "severity": self.severity,
            "layer": self.layer,
            "step": None if self.step is None else int(self.step),
            "evidence": json_safe(self.evidence),
            "message": self.message,
            "fix": self.fix,
            "fixes": [fix.to_dict() for fix in self.fixes],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(code=data["code"], severity=data["severity"], message=data["message"],
                   fix=data["fix"], layer=data.get("layer"), step=data.get("step"),
                   evidence=dict(data.get("evidence") or {}),
                   fixes=tuple(Fix.from_dict(fix) for fix in data.get("fixes") or ()))
