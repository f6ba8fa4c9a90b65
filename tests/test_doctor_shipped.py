"""The doctor on the shipped configs, trained for real on full MNIST (about a minute in all).

Done-when of the doctor: every shipped failure config gets its root cause as the first
finding, every fixed twin gets no error-severity finding, and the baseline gets no error or
warning. One invocation trains all ten configs; each test reads its run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnist_doctor.config import load_config
from mnist_doctor.data.mnist import DataSource
from mnist_doctor.execution.batch import run_batch

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ROOT_CAUSES = {
    "softmax-between-layers": "softmax_in_hidden_layer",
    "zero-init": "constant_init",
    "deep-sigmoid-sgd": "vanishing_gradients",
    "naive-log-nan": "nan_loss",
}
FIXED = ["softmax-between-layers-fixed", "zero-init-fixed", "deep-relu-sgd",
         "deep-sigmoid-adam", "naive-log-fixed"]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("shipped")
    configs = [load_config(path) for path in sorted(CONFIGS.glob("*.yaml"))]
    rows = run_batch(configs, out, DataSource(None)).rows
    return {row["name"]: out / row["run_dir"] for row in rows}


def findings(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "diagnosis.json").read_text())["findings"]


def test_every_shipped_config_is_covered(shipped):
    assert set(ROOT_CAUSES) | set(FIXED) | {"baseline"} == set(shipped)


@pytest.mark.parametrize(("name", "code"), sorted(ROOT_CAUSES.items()))
def test_failure_configs_get_their_root_cause_first(shipped, name, code):
    found = findings(shipped[name])
    assert found and found[0]["code"] == code, [f["code"] for f in found]
    assert found[0]["severity"] == "error" and found[0]["fix"]


@pytest.mark.parametrize("name", FIXED)
def test_fixed_twins_get_no_error(shipped, name):
    assert [f["code"] for f in findings(shipped[name]) if f["severity"] == "error"] == []


def test_baseline_gets_no_error_or_warning_and_learns(shipped):
    assert [f["code"] for f in findings(shipped["baseline"])
            if f["severity"] in ("error", "warning")] == []
    info = json.loads((shipped["baseline"] / "run.json").read_text())
    assert info["final"]["test_accuracy"] > 0.97


def test_naive_log_really_hits_nan_and_its_twin_does_not(shipped):
    broken = json.loads((shipped["naive-log-nan"] / "run.json").read_text())
    fixed = json.loads((shipped["naive-log-fixed"] / "run.json").read_text())
    assert broken["status"] == "diverged" and broken["first_nan_step"] > 0
    assert fixed["status"] == "completed" and fixed["first_nan_step"] is None


def test_expectations_of_shipped_configs_hold(shipped):
    failing = {name: [c["detail"] for c in json.loads((d / "run.json").read_text())
                      .get("checks", []) if not c["passed"]] for name, d in shipped.items()}
    assert {name: fails for name, fails in failing.items() if fails} == {}
