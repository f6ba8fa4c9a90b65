"""What a user sees in a real terminal: the live progress display never draws over the results
table. Run in tmux (a real pseudo-terminal, 100x40), where rich's live display is active."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NAMES = ["alpha", "beta-run", "gamma", "delta-last"]


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          check=False).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")
def test_progress_display_is_stopped_before_the_table_prints(tmp_path, mnist_data_path,
                                                             write_config):
    tiny = yaml.safe_load(write_config().read_text(encoding="utf-8"))
    configs = []
    for name in NAMES:
        configs.append(tmp_path / f"{name}.yaml")
        configs[-1].write_text(yaml.safe_dump({
            **tiny, "name": name, "data": {"train_subset": 200},
            "train": {"batch_size": 50, "steps": 4, "eval_every": 4}}), encoding="utf-8")
    data = shlex.quote(str(mnist_data_path))
    command = (f"cd {shlex.quote(str(REPO))} && MNIST_DOCTOR_DATA={data} "
               f"{shlex.quote(sys.executable)} -m mnist_doctor run --no-doctor "
               f"{' '.join(shlex.quote(str(c)) for c in configs)} --out {tmp_path / 'out'}; "
               "echo EXIT=$?; sleep 120")
    socket = f"mnist-doctor-test-{os.getpid()}"
    tmux(socket, "new-session", "-d", "-x", "100", "-y", "40", "-s", "t", command)
    try:
        screen = ""
        deadline = time.monotonic() + 240
        while "EXIT=" not in screen and time.monotonic() < deadline:
            time.sleep(0.5)
            screen = tmux(socket, "capture-pane", "-p", "-t", "t")
    finally:
        tmux(socket, "kill-server")
    lines = screen.rstrip().splitlines()
    assert "EXIT=0" in screen, screen
    bottom = max(i for i, line in enumerate(lines) if line.lstrip().startswith("└"))
    rows = [line for line in lines if line.lstrip().startswith("│")]
    for name in NAMES:
        assert any(line.lstrip().startswith(f"│ {name} ") for line in rows), screen
    after = [line.strip() for line in lines[bottom + 1:] if line.strip()]
    assert after[-1] == "EXIT=0" and all("━" not in line and "/" not in line
                                          for line in after), screen
