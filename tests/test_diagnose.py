"""The doctor end to end on synthetic runs: root cause first, files in and out, the table."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from rich.console import Console

from mnist_doctor.config import parse_config
from mnist_doctor.doctor.diagnose import diagnose, diagnose_run_dir, write_diagnosis
from mnist_doctor.doctor.findings import Finding
from mnist_doctor.doctor.ranking import root_cause_order
from mnist_doctor.report.findings_view import findings_renderable
from mnist_doctor.runs.layout import find_run_dirs
from mnist_doctor.vocabulary import CODES

STEPS = [0, 1, 2, 3, 4] + list(range(25, 1001, 25))
COMPLETED = {"status": "completed", "steps_completed": 1000, "first_nan_step": None}


def make_config(hidden_activation="relu", kernel_init="he_normal", **top):
    layers = [{"type": "dense", "units": 100, "activation": hidden_activation,
               "kernel_init": kernel_init},
              {"type": "dense", "units": 10, "activation": "softmax", "kernel_init": kernel_init}]
    return parse_config({"name": "t", "model": {"layers": layers}, "train": {"steps": 1000},
                         **top})


def metrics(accuracy, loss) -> pd.DataFrame:
    steps = [0, 250, 500, 1000]
    return pd.DataFrame({"epoch": [s / 1875 for s in steps], "step": steps,
                         "train_loss": loss, "train_accuracy": accuracy, "test_loss": loss,
                         "test_accuracy": accuracy, "seconds": [0, 1, 2, 3], "nan": 0})


LEARNED = metrics([0.1, 0.9, 0.95, 0.97], [2.3, 0.4, 0.25, 0.15])
STUCK = metrics([0.1, 0.1135, 0.1135, 0.1135], [2.3026, 2.3015, 2.3012, 2.3011])


def telemetry(layers: dict[str, dict], loss) -> pd.DataFrame:
    """Long-form rows; whole-model rows have an empty layer, as in telemetry.csv."""
    rows = [(s, "", "loss", v) for s, v in zip(STEPS, loss, strict=True)]
    for layer, values in layers.items():
        for metric, value in values.items():
            rows += [(s, layer, metric, value) for s in STEPS]
    return pd.DataFrame(rows, columns=["step", "layer", "metric", "value"])


def healthy_layer(**changes) -> dict:
    return {"kernel_norm": 10.0, "kernel_grad_norm": 0.3, "grad_zero_frac": 0.2,
            "update_ratio": 0.005, "unit_spread": 0.4, "preact_large_frac": 0.01,
            "dead_unit_frac": 0.02, "act_nonfinite_frac": 0.0, **changes}


def codes(findings):
    return [finding.code for finding in findings]


def test_a_healthy_run_has_no_error_or_warning():
    tel = telemetry({"L0_dense": healthy_layer(), "L1_dense": healthy_layer()},
                    np.linspace(2.3, 0.15, len(STEPS)))
    found = diagnose(make_config(), LEARNED, tel, COMPLETED)
    assert [f for f in found if f.severity in ("error", "warning")] == []


def test_softmax_hidden_layer_with_zero_init_puts_the_config_mistakes_first():
    """Forum thread: two zero-initialised softmax layers stop at 0.1135."""
    tel = telemetry({"L0_dense": healthy_layer(kernel_grad_norm=0.0, unit_spread=0.0,
                                               kernel_norm=0.0, update_ratio=math.nan),
                     "L1_dense": healthy_layer()}, np.full(len(STEPS), 2.3015))
    config = make_config("softmax", "zeros", optimizer={"name": "sgd", "learning_rate": 0.5})
    found = diagnose(config, STUCK, tel, COMPLETED)
    assert codes(found)[:2] == ["softmax_in_hidden_layer", "constant_init"]
    assert {"zero_gradient", "symmetric_units", "stuck_at_chance",
            "loss_not_decreasing"} <= set(codes(found))
    assert codes(found).index("zero_gradient") < codes(found).index("stuck_at_chance")
    assert "vanishing_gradients" not in codes(found)  # exactly 0 is not "vanishing"


def test_a_config_warning_that_explains_the_failure_becomes_the_root_cause():
    """Raw 0..255 pixels with plain SGD: the loss blows up; normalising is the fix."""
    nan_run = {**COMPLETED, "status": "diverged", "first_nan_step": 40,
               "first_nonfinite_layer": "L0_dense"}
    broken = metrics([0.1, 0.098, 0.098, 0.098], [2.3, math.nan, math.nan, math.nan])
    found = diagnose(make_config(data={"normalize": False}), broken, None, nan_run)
    assert codes(found)[0] == "unnormalized_input"
    assert found[0].severity == "error" and "nan_loss" in found[0].evidence["explains"]
    assert found[1].code == "nan_loss" and found[1].layer == "L0_dense"


def test_a_config_warning_stays_a_warning_when_the_run_learned():
    found = diagnose(make_config(data={"normalize": False}), LEARNED, None, COMPLETED)
    assert [(f.code, f.severity) for f in found] == [("unnormalized_input", "warning")]


def test_without_telemetry_static_and_metrics_rules_still_run():
    found = diagnose(make_config("softmax"), STUCK, None, COMPLETED)
    assert codes(found) == ["softmax_in_hidden_layer", "stuck_at_chance", "loss_not_decreasing"]


def test_findings_are_deduplicated_by_code():
    found = diagnose(make_config("softmax"), STUCK, None, COMPLETED)
    assert len(codes(found)) == len(set(codes(found)))


def _finding(code, severity, step=None):
    return Finding(code, severity, message="m", fix="f", step=step)


def test_order_is_severity_then_cause_before_symptom_then_earliest_step():
    findings = [_finding("stuck_at_chance", "error", 250), _finding("dead_relu", "warning", 5),
                _finding("zero_gradient", "error", 1), _finding("nan_loss", "error", 90),
                _finding("diverging_loss", "error", 40), _finding("constant_init", "error"),
                _finding("learning_rate_too_low", "info", 0)]
    assert codes(root_cause_order(findings)) == [
        "constant_init", "zero_gradient", "diverging_loss", "nan_loss", "stuck_at_chance",
        "dead_relu", "learning_rate_too_low"]


def test_finding_rejects_unknown_codes_and_round_trips_through_json():
    with pytest.raises(ValueError, match="unknown finding code"):
        _finding("bad_code", "error")
    with pytest.raises(ValueError, match="severity"):
        _finding("nan_loss", "fatal")
    finding = Finding("nan_loss", "error", "m", "f", layer="L1_dense", step=3,
                      evidence={"loss": np.float32(math.inf), "values": [np.int64(2)]})
    data = json.loads(json.dumps(finding.to_dict()))
    assert data["evidence"] == {"loss": "inf", "values": [2]}
    assert Finding.from_dict(data).layer == "L1_dense"
    assert len(CODES) == len(set(CODES)) == 23


def _write_run(run_dir, config, metrics_df, tel, info):
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_yaml_dict()))
    metrics_df.to_csv(run_dir / "metrics.csv", index=False)
    if tel is not None:
        tel.to_csv(run_dir / "telemetry.csv", index=False)
    (run_dir / "run.json").write_text(json.dumps(info))


def test_diagnose_run_dir_reads_the_files_and_writes_diagnosis_json(tmp_path):
    tel = telemetry({"L0_dense": healthy_layer(kernel_grad_norm=0.0, unit_spread=0.0),
                     "L1_dense": healthy_layer()}, np.full(len(STEPS), 2.3015))
    run_dir = tmp_path / "inv" / "two-softmax"
    _write_run(run_dir, make_config("softmax", "zeros"), STUCK, tel, COMPLETED)
    found = diagnose_run_dir(run_dir)
    assert codes(found)[0] == "softmax_in_hidden_layer" and "zero_gradient" in codes(found)
    path = write_diagnosis(run_dir, found)
    data = json.loads(path.read_text())
    assert [f["code"] for f in data["findings"]] == codes(found)
    assert {"code", "severity", "layer", "step", "evidence", "message", "fix"} == set(
        data["findings"][0])
    assert not list(run_dir.glob("*.tmp"))


def test_find_run_dirs_accepts_an_invocation_or_a_run_folder(tmp_path):
    for name in ("b-run", "a-run"):
        _write_run(tmp_path / name, make_config(), LEARNED, None, COMPLETED)
    (tmp_path / "not-a-run").mkdir()
    assert [p.name for p in find_run_dirs(tmp_path)] == ["a-run", "b-run"]
    assert find_run_dirs(tmp_path / "a-run") == [tmp_path / "a-run"]
    with pytest.raises(FileNotFoundError):
        find_run_dirs(tmp_path / "missing")


def test_findings_renderable_shows_code_message_fix_and_evidence():
    found = diagnose(make_config("softmax"), STUCK, None, COMPLETED)
    console = Console(width=100, record=True, color_system=None)
    console.print(findings_renderable("two-softmax", found))
    text = console.export_text()
    assert "two-softmax" in text and "softmax_in_hidden_layer" in text
    assert "Fix:" in text and "evidence:" in text and "L0_dense" in text
    console.print(findings_renderable("baseline", []))
    assert "baseline: no problems found" in console.export_text()


def test_a_crashed_run_without_metrics_gets_the_static_findings_only():
    found = diagnose(make_config("softmax"), None, None, {"status": "failed", "error": "boom"})
    assert codes(found) == ["softmax_in_hidden_layer"]
