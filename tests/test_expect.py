"""expect: blocks: parsing into config errors, and each clause passing and failing (no TF)."""

from __future__ import annotations

import json

import pytest
import yaml

from mnist_doctor.config import ConfigError, load_config, parse_config
from mnist_doctor.config.expect import Bound, Expect
from mnist_doctor.doctor.expect import check_run, evaluate_expectations

MODEL = {"layers": [{"type": "dense", "units": 10, "activation": "softmax"}]}
RUN = {"status": "completed", "steps_completed": 1000, "first_nan_step": None,
       "wall_seconds": 12.5,
       "final": {"train_loss": 0.3, "train_accuracy": 0.91, "test_loss": 0.28,
                 "test_accuracy": 0.9234, "best_test_accuracy": 0.93}}
DIVERGED = {"status": "diverged", "steps_completed": 1200, "first_nan_step": 1187,
            "final": {"train_loss": "nan", "train_accuracy": 0.1, "test_loss": "nan",
                      "test_accuracy": 0.098, "best_test_accuracy": 0.2}}
FAILED = {"status": "failed", "error": "ValueError: boom", "final": {}}
FINDINGS = [{"code": "constant_init"}, {"code": "zero_gradient"}]


def config_with(expect) -> dict:
    return {"model": MODEL, "train": {"steps": 10}, "expect": expect}


def problems_of(expect) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with(expect), "forum/x.yaml")
    return caught.value.problems


def only_check(expect: Expect, run=RUN, findings=()):
    checks = evaluate_expectations(expect, run, list(findings))
    assert len(checks) == 1
    return checks[0]


# -- parsing -------------------------------------------------------------------------------
def test_full_block_parses_and_round_trips_through_the_resolved_config(tmp_path):
    block = {"test_accuracy": {"min": 0.1, "max": 0.12}, "final_loss": {"max": 2.31},
             "nan": False, "diagnosis": ["zero_gradient"], "no_diagnosis": ["nan_loss"]}
    config = parse_config(config_with(block), "x.yaml")
    assert config.expect == Expect(
        bounds=(Bound("test_accuracy", 0.1, 0.12), Bound("final_loss", None, 2.31)),
        nan=False, diagnosis=("zero_gradient",), no_diagnosis=("nan_loss",))
    resolved = tmp_path / "config.yaml"
    resolved.write_text(yaml.safe_dump(config.to_yaml_dict(), sort_keys=False))
    assert load_config(resolved).expect == config.expect


def test_expectations_do_not_change_the_config_hash():
    with_expect = parse_config(config_with({"nan": True}), "x.yaml")
    without = parse_config({"model": MODEL, "train": {"steps": 10}}, "x.yaml")
    assert without.expect is None and "expect" not in without.to_yaml_dict()
    assert with_expect.config_hash() == without.config_hash()


def test_unknown_metric_names_the_key_and_suggests():
    (key, message), = problems_of({"test_acuracy": {"min": 0.1}})
    assert key == "expect.test_acuracy"
    assert message.startswith("unknown metric (did you mean 'test_accuracy'?)")


def test_unknown_diagnosis_code_names_the_list_index():
    (key, message), = problems_of({"diagnosis": ["nan_loss", "zero_gradeint"]})
    assert key == "expect.diagnosis[1]"
    assert "unknown diagnosis code 'zero_gradeint' (did you mean 'zero_gradient'?)" in message


@pytest.mark.parametrize(("block", "key", "fragment"), [
    ({"test_accuracy": {"min": 0.5, "max": 0.4}}, "expect.test_accuracy", "above max"),
    ({"test_accuracy": {"mn": 0.5}}, "expect.test_accuracy.mn", "did you mean 'min'"),
    ({"test_accuracy": 0.5}, "expect.test_accuracy", "expected {min: A, max: B}"),
    ({"final_loss": {"max": "low"}}, "expect.final_loss.max", "expected a number"),
    ({"nan": "yes"}, "expect.nan", "expected true or false"),
    ({"no_diagnosis": "nan_loss"}, "expect.no_diagnosis", "expected a list"),
    ({"diagnosis": ["nan_loss"], "no_diagnosis": ["nan_loss"]}, "expect.no_diagnosis",
     "also listed"),
    ([1, 2], "expect", "expected a mapping"),
])
def test_bad_blocks_are_config_errors(block, key, fragment):
    problems = problems_of(block)
    assert any(k == key and fragment in m for k, m in problems), problems


def test_error_message_names_the_file():
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with({"test_acuracy": {"min": 0.1}}), "configs/forum/x.yaml")
    assert "configs/forum/x.yaml: expect.test_acuracy: unknown metric" in str(caught.value)


# -- evaluation: one clause at a time ------------------------------------------------------
@pytest.mark.parametrize(("bound", "passed", "detail"), [
    (Bound("test_accuracy", 0.92, 0.93), True, "test_accuracy 0.9234"),
    (Bound("test_accuracy", 0.95), False, "test_accuracy 0.9234 < min 0.95"),
    (Bound("test_accuracy", None, 0.5), False, "test_accuracy 0.9234 > max 0.5"),
    (Bound("final_loss", None, 0.3), True, "final_loss 0.2800"),
    (Bound("final_loss", None, 0.2), False, "final_loss 0.2800 > max 0.2"),
    (Bound("train_loss", 0.31), False, "train_loss 0.3000 < min 0.31"),
    (Bound("train_accuracy", 0.9), True, "train_accuracy 0.9100"),
    (Bound("best_test_accuracy", 0.94), False, "best_test_accuracy 0.9300 < min 0.94"),
    (Bound("test_loss", 0.1, 1.0), True, "test_loss 0.2800"),
    (Bound("wall_seconds", None, 10), False, "wall_seconds 12.5000 > max 10"),
])
def test_metric_bounds(bound, passed, detail):
    check = only_check(Expect(bounds=(bound,)))
    assert (check.passed, check.detail) == (passed, detail)
    assert check.clause == bound.clause


def test_a_nan_metric_fails_every_bound():
    check = only_check(Expect(bounds=(Bound("final_loss", None, 2.31),)), run=DIVERGED)
    assert not check.passed
    assert check.detail == "final_loss is nan, not final_loss <= 2.31"


def test_the_forum_number_spelled_out():
    check = only_check(Expect(bounds=(Bound("test_accuracy", 0.10, 0.12),)), run=DIVERGED)
    assert check.detail == "test_accuracy 0.0980 < min 0.1"
    assert check.clause == "test_accuracy in [0.1, 0.12]"


def test_a_failed_run_fails_metric_bounds_without_a_number():
    check = only_check(Expect(bounds=(Bound("test_accuracy", 0.1),)), run=FAILED)
    assert not check.passed and check.detail == "test_accuracy not measured (run failed)"


@pytest.mark.parametrize(("expected", "run", "passed", "detail"), [
    (True, DIVERGED, True, "non-finite loss at step 1187"),
    (True, RUN, False, "no non-finite loss in 1000 steps"),
    (False, RUN, True, "no non-finite loss in 1000 steps"),
    (False, DIVERGED, False, "non-finite loss at step 1187"),
])
def test_nan_clause(expected, run, passed, detail):
    check = only_check(Expect(nan=expected), run=run)
    assert (check.clause, check.passed, check.detail) == (
        f"nan: {str(expected).lower()}", passed, detail)


def test_diagnosis_present_and_missing():
    found = only_check(Expect(diagnosis=("zero_gradient",)), findings=FINDINGS)
    missing = only_check(Expect(diagnosis=("nan_loss",)), findings=FINDINGS)
    assert found.passed and found.detail == "zero_gradient found"
    assert not missing.passed
    assert missing.detail == "nan_loss not among the findings (found: constant_init, zero_gradient)"


def test_no_diagnosis_absent_and_present():
    absent = only_check(Expect(no_diagnosis=("nan_loss",)), findings=FINDINGS)
    present = only_check(Expect(no_diagnosis=("constant_init",)), findings=FINDINGS)
    assert absent.passed and absent.clause == "no_diagnosis: nan_loss"
    assert not present.passed and present.detail == "constant_init found, expected absent"


def test_findings_may_be_finding_objects():
    from mnist_doctor.doctor.findings import Finding

    finding = Finding("nan_loss", "error", message="m", fix="f")
    assert only_check(Expect(diagnosis=("nan_loss",)), findings=[finding]).passed


def test_check_run_reads_the_written_diagnosis(tmp_path):
    (tmp_path / "diagnosis.json").write_text(json.dumps({"findings": FINDINGS}))
    expect = Expect(bounds=(Bound("test_accuracy", 0.9),), diagnosis=("zero_gradient",))
    checks = check_run(expect, RUN, tmp_path)
    assert checks == [
        {"clause": "test_accuracy >= 0.9", "passed": True, "detail": "test_accuracy 0.9234"},
        {"clause": "diagnosis: zero_gradient", "passed": True, "detail": "zero_gradient found"},
    ]
    json.dumps(checks)  # plain JSON types: run.json stores them as is
