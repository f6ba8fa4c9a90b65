"""The one sentence that names a treated run's root cause with the numbers that show it."""

from __future__ import annotations

from mnist_doctor.doctor.treatment import (
    COMBINED,
    CURES,
    NO_EFFECT,
    REFERENCE,
    SINGLE,
    WORSE,
    Before,
    Trial,
    Verdicts,
)


def sentence(verdicts: Verdicts, before: Before) -> str:
    """'Root cause: X. <fix> alone takes the test accuracy from a to b; <other> ... .'"""
    if verdicts.trials and all(t.kind == REFERENCE for t in verdicts.trials) \
            and not verdicts.root_cause:
        reference = verdicts.trials[0]
        return (f"No finding: with {reference.fix.summary} the same net reaches "
                f"{_acc(reference)} against this run's {_acc_value(before.test_accuracy)}; it "
                "learns about as well as its architecture does in this budget.")
    if not verdicts.root_cause or verdicts.best is None:
        tried = ", ".join(f"{t.fix.name}: {_acc(t)}" for t in verdicts.trials)
        return f"No trial cured the run ({tried})." if tried else ""
    was = _acc_value(before.test_accuracy)
    best = verdicts.best
    if best.kind == COMBINED:
        alone = "; ".join(f"{t.fix.summary} alone: {was} -> {_acc(t)}"
                          for t in verdicts.trials if t.kind == SINGLE
                          and t.fix.changes.items() <= best.fix.changes.items())
        return (f"Root causes: {' + '.join(verdicts.root_cause)}. No single fix cures the run"
                f"{' (' + alone + ')' if alone else ''}; {best.fix.summary} together take the "
                f"test accuracy from {was} to {_acc(best)}.")
    own = sorted((t for t in verdicts.trials if verdicts.root_cause[0] in t.codes
                  and t.verdict == CURES), key=lambda t: -(t.test_accuracy or 0.0))[:2] or [best]
    label = "Root cause" if own[0].kind == SINGLE else "Finding"
    text = (f"{label}: {verdicts.root_cause[0]}. {_upper_first(own[0].fix.summary)} alone takes "
            f"the test accuracy from {was} to {_acc(own[0])}")
    for other in own[1:]:
        text += f"; {other.fix.summary} alone, to {_acc(other)}"
    others = [t for t in verdicts.trials if t.verdict in (NO_EFFECT, WORSE)][:2]
    for other in others:
        verb = "leaves it at" if other.verdict == NO_EFFECT else "takes it to"
        text += f"; {other.fix.summary} alone {verb} {_acc(other)}"
    return text + "."


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _acc(trial: Trial) -> str:
    return "NaN" if trial.nan else _acc_value(trial.test_accuracy)


def _acc_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
