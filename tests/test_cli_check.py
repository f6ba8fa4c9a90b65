"""`run --check/--junit/--json`, `report`, and bad expect: blocks, through the CLI.

Most tests use synthetic run folders (no TensorFlow, milliseconds); two end-to-end tests train
a tiny MNIST subset for a few dozen steps to prove the exit codes of a real `run --check`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from click.testing import CliRunner
from rich.console import Console

from mnist_doctor.cli import main
from mnist_doctor.report.junit import junit_xml
from mnist_doctor.report.results import exit_code, json_summary, load_results, with_checks
from mnist_doctor.report.table import comparison_table

HEADER = "epoch,step,train_loss,train_accuracy,test_loss,test_accuracy,seconds,nan\n"
PASS = {"clause": "test_accuracy >= 0.9", "passed": True, "detail": "test_accuracy 0.9234"}
FAIL_ACC = {"clause": "test_accuracy in [0.1, 0.12]", "passed": False,
            "detail": "test_accuracy 0.0980 < min 0.1"}
FAIL_CODE = {"clause": "diagnosis: zero_gradient", "passed": False,
             "detail": "zero_gradient not among the findings (found: nan_loss)"}
TINY_MODEL = {"layers": [{"type": "dense", "units": 10, "activation": "softmax"}]}


def write_run(invocation: Path, name: str, status="completed", checks=(), codes=(), **extra):
    run_dir = invocation / name
    run_dir.mkdir(parents=True)
    info = {"name": name, "status": status, "config_path": f"configs/forum/{name}.yaml",
            "wall_seconds": 2.5, "final": {"test_accuracy": 0.5, "test_loss": "nan"},
            "checks": list(checks), **extra}
    (run_dir / "run.json").write_text(json.dumps(info))
    (run_dir / "metrics.csv").write_text(HEADER + "0,0,2.3,0.1,2.3,0.1,0.1,0\n"
                                         "1,100,1.0,0.5,1.0,0.5,1.0,0\n")
    findings = [{"code": code, "severity": "error", "message": "m", "fix": "f"} for code in codes]
    (run_dir / "diagnosis.json").write_text(json.dumps({"findings": findings}))
    return {"name": name, "status": status, "run_dir": name, "wall_seconds": 2.5}


def synthetic_invocation(tmp_path: Path) -> tuple[Path, list[dict]]:
    invocation = tmp_path / "inv"
    rows = [write_run(invocation, "good", checks=[PASS]),
            write_run(invocation, "drifted", checks=[PASS, FAIL_ACC, FAIL_CODE],
                      codes=["nan_loss"], first_nan_step=7),
            write_run(invocation, "crashed", status="failed", checks=[FAIL_ACC],
                      error="ValueError: boom"),
            write_run(invocation, "no-expect")]
    return invocation, rows


# -- JUnit -----------------------------------------------------------------------------------
def test_junit_xml_is_valid_and_counts_cases(tmp_path):
    invocation, rows = synthetic_invocation(tmp_path)
    root = ET.fromstring(junit_xml(load_results(invocation, rows)))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["good", "drifted", "crashed", "no-expect"]
    assert cases["good"].get("classname") == "good" and cases["good"].get("time") == "2.500"
    assert cases["good"].find("failure") is None and cases["good"].find("error") is None
    failures = cases["drifted"].findall("failure")
    assert [f.get("message") for f in failures] == [FAIL_ACC["detail"], FAIL_CODE["detail"]]
    error = cases["crashed"].find("error")
    assert error.get("type") == "failed" and error.get("message") == "ValueError: boom"
    assert cases["crashed"].find("failure") is None  # no result, nothing to check
    assert "diagnosis: nan_loss" in cases["drifted"].find("system-out").text


# -- JSON and exit codes ---------------------------------------------------------------------
def test_json_summary_shape(tmp_path):
    invocation, rows = synthetic_invocation(tmp_path)
    summary = json.loads(json.dumps(json_summary(invocation, load_results(invocation, rows))))
    assert summary["invocation_dir"] == str(invocation)
    assert (summary["failed_runs"], summary["failed_checks"]) == (1, 3)
    drifted = summary["runs"][1]
    assert set(drifted) == {"name", "status", "run_dir", "config_path", "metrics", "diagnosis",
                            "checks", "error"}
    assert drifted["diagnosis"] == ["nan_loss"]
    assert drifted["checks"] == [PASS, FAIL_ACC, FAIL_CODE]
    assert drifted["metrics"]["test_accuracy"] == 0.5
    assert drifted["metrics"]["test_loss"] == "nan"  # as run.json stores non-finite numbers
    assert drifted["metrics"]["first_nan_step"] == 7
    assert drifted["run_dir"] == str(invocation / "drifted")


def test_exit_code_counts_checks_only_with_check(tmp_path):
    invocation, rows = synthetic_invocation(tmp_path)
    results = load_results(invocation, rows)
    assert exit_code(results, check=True) == 1
    finished = [r for r in results if r.status != "failed"]
    assert exit_code(finished, check=False) == 0
    assert exit_code(finished, check=True) == 1
    assert exit_code([r for r in finished if not r.failed_checks], check=True) == 0


def test_check_column_spells_out_the_failing_clauses(tmp_path):
    invocation, rows = synthetic_invocation(tmp_path)
    shown = with_checks(rows, load_results(invocation, rows))
    console = Console(width=240, record=True, color_system=None)
    console.print(comparison_table(shown, checks=True))
    text = console.export_text()
    assert "Check" in text and "pass (1)" in text
    assert "FAIL test_accuracy 0.0980 < min 0.1; zero_gradient not among the findings" in text


# -- report ----------------------------------------------------------------------------------
def test_report_command_writes_report_html(tmp_path):
    invocation, _ = synthetic_invocation(tmp_path)
    result = CliRunner().invoke(main, ["report", str(invocation)])
    assert result.exit_code == 0, result.output
    page = invocation / "report.html"
    assert result.stdout.strip() == str(page)
    html = page.read_text()
    assert "drifted" in html and "test_accuracy 0.0980 &lt; min 0.1" in html


def test_report_on_a_folder_without_runs_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "no run folders" in " ".join(result.stderr.split())


# -- config errors ---------------------------------------------------------------------------
def write_expect_config(path: Path, expect: dict, **train) -> Path:
    config = {"model": TINY_MODEL, "data": {"train_subset": 1000},
              "train": {"batch_size": 50, "steps": 30, **train}, "expect": expect}
    path.write_text(yaml.safe_dump(config))
    return path


def test_unknown_metric_and_code_exit_2_naming_file_and_key(tmp_path):
    metric = write_expect_config(tmp_path / "metric.yaml", {"test_acuracy": {"min": 0.1}})
    code = write_expect_config(tmp_path / "code.yaml", {"diagnosis": ["nan_los"]})
    for command in ("validate", "run"):
        result = CliRunner().invoke(main, [command, str(metric), str(code)])
        assert result.exit_code == 2
        lines = " ".join(result.stderr.split())  # rich wraps long lines
        assert (f"{metric}: expect.test_acuracy: unknown metric (did you mean "
                "'test_accuracy'?)") in lines
        assert f"{code}: expect.diagnosis[0]: unknown diagnosis code 'nan_los'" in lines
    assert not (Path.cwd() / "runs" / "metric").exists()


# -- end to end ------------------------------------------------------------------------------
def run_cli(args: list[str]):
    return CliRunner().invoke(main, ["run", "--quiet", "--device", "cpu", *args])


def test_run_check_passes_with_junit_and_json(tmp_path):
    config = write_expect_config(tmp_path / "tiny-pass.yaml",
                          {"test_accuracy": {"min": 0.0, "max": 1.0}, "nan": False,
                           "no_diagnosis": ["nan_loss"]})
    junit = tmp_path / "out" / "junit.xml"
    result = run_cli(["--check", "--json", "--junit", str(junit), "--out",
                      str(tmp_path / "inv"), str(config)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (run,) = summary["runs"]
    assert run["name"] == "tiny-pass" and run["status"] == "completed"
    assert [c["passed"] for c in run["checks"]] == [True, True, True]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    assert suite.find("testcase").get("classname") == "tiny-pass"
    stored = json.loads((tmp_path / "inv" / "tiny-pass" / "run.json").read_text())
    assert stored["checks"] == run["checks"]
    assert (tmp_path / "inv" / "curves.png").is_file()


def test_run_check_exits_1_after_all_runs_when_an_expectation_fails(tmp_path):
    failing = write_expect_config(tmp_path / "tiny-fail.yaml", {"test_accuracy": {"min": 0.99}})
    passing = write_expect_config(tmp_path / "tiny-ok.yaml", {"nan": False})
    result = run_cli(["--check", "--out", str(tmp_path / "inv"), str(failing), str(passing)])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.stdout and "Check" in result.stdout
    stored = json.loads((tmp_path / "inv" / "tiny-fail" / "run.json").read_text())
    (check,) = stored["checks"]
    assert not check["passed"] and check["detail"].endswith("< min 0.99")
    assert (tmp_path / "inv" / "tiny-ok" / "run.json").is_file()  # ran after the failure
