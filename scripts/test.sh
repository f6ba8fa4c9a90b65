#!/usr/bin/env bash
# The test command from the README: install with the dev, ray and jax extras (jax, so the
# cross-backend tests really run), run the fast test suite, then reproduce the quick forum
# configs with --check (fails if a result drifts).
set -euo pipefail
cd "$(dirname "$0")/.."
export MNIST_DOCTOR_DATA="${MNIST_DOCTOR_DATA:-$(cd .. && pwd)/shared/data/mnist.npz}"
python3 -m pip install -q -e '.[dev,ray,jax]'
ruff check mnist_doctor tests benchmarks
python3 -m pytest
mnist-doctor run --check --quiet --out "$(mktemp -d)/forum" configs/forum/*.yaml
