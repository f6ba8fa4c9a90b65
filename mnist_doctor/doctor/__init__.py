"""The doctor: pure rules over a run's recorded files that say what went wrong and how to fix it.

Owns what it reads (evidence.py: `RunData`), the findings it returns (findings.py), the rules
grouped by what they look at (rules/: static config, per-layer state, gradient flow, step size,
outcome), their order (ranking.py), the entry point (diagnose.py) and the evaluation of a
config's `expect:` block (expect.py). Reads run folders through `runs`; never imports
TensorFlow and renders nothing.
"""
