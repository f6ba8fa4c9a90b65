"""Runs on disk: the run folder and invocation folder contract (docs/run-format.md).

Owns the fixed file names and columns (layout.py), writing them safely (folder.py), reading them
back with one behaviour for missing or broken files (read.py), summary.csv (summary.py) and
summary_points.csv (points.py). Imports only `config` and `vocabulary`: no TensorFlow, so every
report works on old runs.
"""
