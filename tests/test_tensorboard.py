"""TensorBoard events, read back with TensorBoard's own reader and checked against the CSVs."""

from __future__ import annotations

import math
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import TINY_CONFIG
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mnist_doctor.config.sweep import expand
from mnist_doctor.data.mnist import DataSource
from mnist_doctor.execution.batch import run_batch
from mnist_doctor.runs.events import HPARAMS_FILE, METRIC_TAGS, telemetry_tag


def accumulate(path) -> EventAccumulator:
    return EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0}).Reload()


def scalars(accumulator: EventAccumulator, tag: str) -> dict[int, float]:
    return {event.step: event.value for event in accumulator.Scalars(tag)}


def assert_same(recorded: dict[int, float], expected: pd.Series) -> None:
    assert sorted(recorded) == sorted(int(step) for step in expected.index)
    for step, value in expected.items():
        got = recorded[int(step)]
        assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value, rel=1e-6)


def check_run_folder(run_dir) -> None:
    """Every evaluation and every telemetry row of the CSVs is a scalar in the events."""
    events = accumulate(run_dir)
    metrics = pd.read_csv(run_dir / "metrics.csv").set_index("step")
    for column, tag in METRIC_TAGS.items():
        assert_same(scalars(events, tag), metrics[column])
    telemetry = pd.read_csv(run_dir / "telemetry.csv", keep_default_na=False)
    telemetry["value"] = telemetry["value"].astype(float)
    for (layer, metric), rows in telemetry.groupby(["layer", "metric"]):
        # a replayed failing batch repeats its step; the events keep the last value
        expected = rows.drop_duplicates("step", keep="last").set_index("step")["value"]
        assert_same(scalars(events, telemetry_tag(layer, metric)), expected)


def test_a_run_writes_events_that_match_its_csvs(tmp_path):
    config = expand({**TINY_CONFIG, "name": "tb"}, "tb.yaml").runs
    run_batch(config, tmp_path, DataSource())
    run_dir = tmp_path / "tb"
    check_run_folder(run_dir)
    tags = accumulate(run_dir).Tags()["scalars"]
    for name in ("kernel_grad_norm", "update_ratio", "dead_unit_frac", "act_saturated_frac"):
        assert telemetry_tag("L0_dense", name) in tags


def test_a_sweep_writes_hparams_for_every_run(tmp_path):
    sweep = expand({**TINY_CONFIG, "name": "hp",
                    "train": {"batch_size": 50, "steps": 2, "eval_every": 2},
                    "matrix": {"optimizer.learning_rate": [0.01, 0.1]}}, "hp.yaml")
    result = run_batch(sweep.runs, tmp_path, DataSource())
    experiment = accumulate(tmp_path / HPARAMS_FILE)
    assert "_hparams_/experiment" in experiment.Tags()["tensors"]
    for row in result.rows:
        session = accumulate(tmp_path / row["run_dir"])
        assert "_hparams_/session_start_info" in session.Tags()["tensors"]
        assert scalars(session, "accuracy/test")
    from tensorboard.plugins.hparams import metadata

    content = accumulate(tmp_path / result.rows[-1]["run_dir"]).SummaryMetadata(
        "_hparams_/session_start_info").plugin_data.content
    start = metadata.parse_session_start_info_plugin_data(content)
    assert start.hparams["lr"].number_value == 0.1 and start.group_name == result.rows[-1]["point"]


def test_the_jax_backend_writes_the_same_events(tmp_path):
    pytest.importorskip("jax")
    config = tmp_path / "jax.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "name": "jx",
                                      "train": {"batch_size": 50, "steps": 6, "eval_every": 3}}))
    done = subprocess.run([sys.executable, "-m", "mnist_doctor", "run", str(config), "--out",
                           str(tmp_path / "out"), "--backend", "jax", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    check_run_folder(tmp_path / "out" / "jx")


def test_the_record_checksum_is_tensorflows():
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as reference

    from mnist_doctor.runs.events import masked_crc32c

    for data in (b"", b"a", bytes(range(256)) * 7):
        assert masked_crc32c(data) == reference(data)
