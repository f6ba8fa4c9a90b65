"""Only mnist-doctor's own output on stderr; the libraries' logs come back with --verbose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
NOISE = ("oneDNN", "cuda drivers", "absl", "cudart", "RuntimeWarning", "UserWarning", "Glyph",
         "XLA", "I0000", "W0000", "E0000")


def run_cli(tmp_path: Path, tiny: dict, *extra: str) -> subprocess.CompletedProcess:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**tiny, "name": "数字-noise",
                                      "train": {"batch_size": 50, "steps": 2, "eval_every": 2}},
                                     allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "mnist_doctor", "run", str(config), "--out",
                           str(tmp_path / f"out{len(extra)}"), "--no-doctor", *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_library_logs_stay_off_screen_unless_verbose(tmp_path, write_config):
    tiny = yaml.safe_load(write_config().read_text(encoding="utf-8"))
    quiet = run_cli(tmp_path, tiny)
    assert quiet.returncode == 0, quiet.stderr
    assert "completed" in quiet.stdout
    for marker in NOISE:
        assert marker not in quiet.stderr, quiet.stderr
    verbose = run_cli(tmp_path, tiny, "--verbose")
    assert verbose.returncode == 0
    assert any(marker in verbose.stderr for marker in NOISE), verbose.stderr  # they exist


def test_the_quiet_context_restores_stderr_and_warnings():
    import warnings

    from mnist_doctor.cli.quiet import library_logs

    before = sys.stderr
    with library_logs(verbose=False):
        warnings.warn("hidden", RuntimeWarning, stacklevel=1)
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"]
    assert sys.stderr is before
