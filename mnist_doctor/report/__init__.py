"""Reporters: what an invocation produced, for people (tables, curves, HTML) and machines (JSON,
JUnit). Each builds an object or a file from the run folders on disk and returns it; the CLI
prints. Reads through `runs` and `doctor`; never imports TensorFlow.
"""
