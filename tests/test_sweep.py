"""Sweeps without training: matrix expansion, names, config errors, aggregation, the table."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from mnist_doctor.cli import main
from mnist_doctor.config import ConfigError, safe_name
from mnist_doctor.config.sweep import MAX_NAME, aliases_for, expand, format_value, parse_dotted
from mnist_doctor.execution.batch import annotate, unique_runs
from mnist_doctor.report.sweep_table import points_table
from mnist_doctor.runs.points import aggregate, is_sweep, mean_std, read_points, write_points

BASE = {
    "name": "deep-net",
    "seed": 3,
    "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"},
                         {"type": "dense", "units": 16, "activation": "relu"},
                         {"type": "dense", "units": 10, "activation": "softmax"}]},
    "optimizer": {"name": "sgd", "learning_rate": 0.5},
    "train": {"batch_size": 50, "steps": 10},
}
GRID = {"model.layers[0].activation": ["sigmoid", "relu"], "optimizer.name": ["sgd", "adam"],
        "optimizer.learning_rate": [0.01, 0.1]}


def sweep_of(**changes):
    return expand({**BASE, **changes}, "sweep.yaml")


def problems_of(**changes) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        sweep_of(**changes)
    return [f"{key}: {message}" for key, message in caught.value.problems]


def test_grid_with_repeats_expands_to_every_point_and_seed():
    sweep = sweep_of(matrix=GRID, repeats=2)
    assert len(sweep.runs) == 16 and sweep.shape == (2, 2, 2) and sweep.repeats == 2
    assert sweep.describe() == "2x2x2 grid x 2 repeats = 16 runs (activation, optimizer, lr)"
    first, second, last = sweep.runs[0], sweep.runs[1], sweep.runs[-1]
    assert first.config.name == "deep-net[activation=sigmoid,optimizer=sgd,lr=0.01]-seed3"
    assert second.config.name == "deep-net[activation=sigmoid,optimizer=sgd,lr=0.01]-seed4"
    assert first.point == second.point == "deep-net[activation=sigmoid,optimizer=sgd,lr=0.01]"
    assert (first.config.seed, second.config.seed) == (3, 4)
    assert last.point == "deep-net[activation=relu,optimizer=adam,lr=0.1]"
    assert last.config.layers[0].activation == "relu" and last.config.layers[1].activation == "relu"
    assert last.config.optimizer.name == "adam" and last.config.optimizer.learning_rate == 0.1
    assert dict(last.params) == {"activation": "relu", "optimizer": "adam", "lr": 0.1}
    assert len({run.config.name for run in sweep.runs}) == 16


def test_names_are_folder_safe_and_stable():
    names = [run.config.name for run in sweep_of(matrix=GRID, repeats=2).runs]
    assert [safe_name(name) for name in names] == names
    assert names == [run.config.name for run in sweep_of(matrix=GRID, repeats=2).runs]


def test_matrix_without_repeats_has_no_seed_suffix_and_repeats_alone_do():
    assert sweep_of(matrix={"optimizer.name": ["sgd", "adam"]}).runs[1].config.name == \
        "deep-net[optimizer=adam]"
    repeated = sweep_of(repeats=3)
    assert [run.config.name for run in repeated.runs] == [
        "deep-net-seed3", "deep-net-seed4", "deep-net-seed5"]
    assert {run.point for run in repeated.runs} == {"deep-net"}
    assert repeated.describe() == "3 repeats = 3 runs"


def test_a_plain_config_is_a_sweep_of_one():
    sweep = expand(BASE, "plain.yaml")
    assert not sweep.is_sweep and sweep.describe() == "1 run"
    assert sweep.runs[0].config.name == "deep-net" and sweep.runs[0].point == "deep-net"


def test_a_missing_section_on_the_path_is_created():
    raw = {key: value for key, value in BASE.items() if key != "optimizer"}
    runs = expand({**raw, "matrix": {"optimizer.name": ["adam"]}}, "x.yaml").runs
    assert runs[0].config.optimizer.name == "adam"
    assert runs[0].config.optimizer.learning_rate == 0.001  # adam's default, not sgd's


@pytest.mark.parametrize(("matrix", "expected"), [
    ({"model.layers[5].activation": ["relu"]},
     "matrix.model.layers[5].activation: no layer 5 (model.layers has 3 layers: 0..2)"),
    ({"optimizer.learning_rate": [0.1, -1]},
     "matrix.optimizer.learning_rate: must be > 0.0, got -1"),
    ({"optimizer.name": ["sgd", "adma"]},
     "matrix.optimizer.name: expected one of sgd, adam, rmsprop, adagrad, got 'adma' "
     "(did you mean 'adam'?)"),
    ({"optimizer.lerning_rate": [0.1]},
     "matrix.optimizer.lerning_rate: unknown key (did you mean 'learning_rate'?); "
     "allowed: gradient_jitter, gradient_jitter_on, learning_rate, momentum, name, nesterov"),
    ({"optimizer.name.x": [1]}, "matrix.optimizer.name.x: optimizer.name is not a mapping "
                                "(it is 'sgd')"),
    ({"model.layers.x": [1]}, "matrix.model.layers.x: model.layers is not a mapping "
                              "(it is [{'type': 'dense', 'units': 16, 'activation': 'relu'}, "
                              "{'type': 'dense', 'units': 16, 'activation': 'relu'}, "
                              "{'type': 'dense', 'units': 10, 'activation': 'softmax'}])"),
    ({"optimizer.name": "adam"}, "matrix.optimizer.name: expected a non-empty list of values, "
                                 "got 'adam'"),
    ({"optimizer.name": []}, "matrix.optimizer.name: expected a non-empty list of values, got []"),
    ({"optimizer.name": ["adam", "adam"]},
     "matrix.optimizer.name: values repeat (as names): ['adam', 'adam']"),
    ({"a..b": [1]}, "matrix.a..b: not a dotted key like optimizer.learning_rate or "
                    "model.layers[0].activation"),
    ({"name": ["a", "b"]}, "matrix.name: name cannot be swept"),
    ([1, 2], "matrix: expected a mapping of dotted keys to lists of values, e.g. "
             "optimizer.learning_rate: [0.01, 0.1]; got [1, 2]"),
])
def test_bad_matrix_entries_are_config_errors_naming_the_key(matrix, expected):
    assert problems_of(matrix=matrix) == [expected]


def test_bad_repeats_and_oversized_grids_are_errors():
    assert problems_of(repeats=0) == ["repeats: expected an integer >= 1, got 0"]
    assert problems_of(repeats=True) == ["repeats: expected an integer >= 1, got True"]
    huge = {f"model.layers[{i}].units": list(range(1, 30)) for i in range(3)}
    assert problems_of(matrix=huge) == ["matrix: expands to 24389 runs; at most 10000 are "
                                        "allowed"]


def test_a_problem_in_some_grid_points_names_one_and_a_problem_in_all_is_said_once():
    problems = problems_of(optimizer={"name": "sgd", "momentum": 0.9},
                           matrix={"optimizer.name": ["sgd", "adam", "rmsprop"]}, loss="nope")
    assert problems == [
        "loss: expected one of naive_log, crossentropy, logits_crossentropy, mse, custom, "
        "got 'nope'",
        "optimizer.momentum: momentum/nesterov apply to sgd only, not adam "
        "(in grid point deep-net[optimizer=adam])",
        "optimizer.momentum: momentum/nesterov apply to sgd only, not rmsprop "
        "(in grid point deep-net[optimizer=rmsprop])",
    ]


def test_cli_validate_reports_the_expansion_and_bad_keys_exit_2(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump({**BASE, "matrix": GRID, "repeats": 2}, sort_keys=False))
    bad.write_text(yaml.safe_dump({**BASE, "matrix": {"model.layers[5].activation": ["relu"]}}))
    result = CliRunner().invoke(main, ["validate", str(good)])
    assert result.exit_code == 0
    assert "(2x2x2 grid x 2 repeats = 16 runs (activation, optimizer, lr))" in result.output
    result = CliRunner().invoke(main, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: matrix.model.layers[5].activation: no layer 5" in result.output


def test_cli_list_shows_one_row_per_file_with_its_run_count(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({**BASE, "matrix": {"optimizer.name": ["sgd", "adam"]}}))
    result = CliRunner().invoke(main, ["list", str(path)], terminal_width=200)
    assert result.exit_code == 0
    assert "deep-net" in result.output and "2-point grid" in result.output
    assert "(optimizer)" in result.output


def test_aliases_are_short_and_made_unique():
    paths = [parse_dotted(k) for k in ("model.layers[0].activation", "model.layers[1].activation",
                                       "optimizer.name", "optimizer.learning_rate", "data.path")]
    assert aliases_for(paths) == ["L0.activation", "L1.activation", "optimizer", "lr", "path"]
    assert parse_dotted("model.layers[0].activation") == ["model", "layers", 0, "activation"]
    assert parse_dotted("model.layers[x]") is None


@pytest.mark.parametrize(("value", "text"), [
    (0.1, "0.1"), (0.001, "0.001"), (1e-5, "1e-05"), (0.123456789, "0.123456789"), (3, "3"),
    (True, "true"), (None, "null"), ("relu", "relu"), ({"normal": {"stddev": 1.0}},
                                                        "{normal: {stddev: 1.0}}"),
])
def test_values_read_naturally_in_names(value, text):
    assert format_value(value) == text


def test_long_names_are_shortened_to_fit_a_folder_name_and_stay_distinct():
    base = {**BASE, "name": "x" * 90}
    runs = expand({**base, "matrix": {"optimizer.learning_rate": [0.1, 0.2]}, "repeats": 2},
                  "long.yaml").runs
    folders = {safe_name(run.config.name) for run in runs}
    assert len(folders) == 4
    assert all(len(run.point) <= MAX_NAME and run.config.name.startswith(run.point)
               for run in runs)


def test_the_same_config_twice_gets_distinct_folders():
    runs = list(expand(BASE, "a.yaml").runs) * 2
    assert [run.config.name for run in unique_runs(runs)] == ["deep-net", "deep-net-2"]
    assert [run.point for run in unique_runs(runs)] == ["deep-net", "deep-net-2"]


def run_row(name, status, accuracy, loss=0.5, point="p", seed=0, **extra):
    return {"name": name, "status": status, "test_accuracy": accuracy, "train_accuracy": accuracy,
            "test_loss": loss, "train_loss": loss, "best_test_accuracy": accuracy,
            "first_nan_step": extra.get("nan_step"), "wall_seconds": 2.0,
            "diagnosis": extra.get("diagnosis", ""), "point": point, "seed": seed,
            "params": extra.get("params", {})}


def test_repeats_aggregate_into_mean_std_and_counts():
    rows = [run_row("a-0", "completed", 0.90, point="a", params={"lr": "0.1"}),
            run_row("a-1", "completed", 0.94, point="a", params={"lr": "0.1"}),
            run_row("b-0", "completed", 0.50, point="b", params={"lr": "1"}),
            run_row("b-1", "diverged", 0.10, loss=math.inf, point="b", params={"lr": "1"},
                    nan_step=7, diagnosis="exploding"),
            run_row("b-2", "failed", None, loss=None, point="b", params={"lr": "1"})]
    points, params = aggregate(rows)
    assert params == ["lr"] and [p["point"] for p in points] == ["a", "b"]
    a, b = points
    assert a["runs"] == 2 and a["completed"] == 2 and a["diverged"] == 0
    assert a["test_accuracy_mean"] == pytest.approx(0.92)
    assert a["test_accuracy_std"] == pytest.approx(math.sqrt(0.0008))
    assert (b["runs"], b["completed"], b["diverged"], b["failed"]) == (3, 1, 1, 1)
    assert b["test_accuracy_mean"] == pytest.approx(0.30)  # failed run has no result
    assert b["test_loss_mean"] == math.inf and math.isnan(b["test_loss_std"])
    assert b["first_nan_step_min"] == 7 and b["diagnosis"] == "exploding"
    assert mean_std([0.5]) == (0.5, None) and mean_std([]) == (None, None)


def test_points_csv_round_trips_with_parameter_columns(tmp_path):
    rows = [run_row(f"p{i}-{s}", "completed", 0.5 + i / 10 + s / 100, point=f"p{i}", seed=s,
                    params={"activation": "relu", "lr": str(i)}) for i in range(2) for s in (0, 1)]
    points, params = aggregate(rows)
    write_points(tmp_path, points, params)
    again, again_params = read_points(tmp_path)
    assert again_params == ["activation", "lr"] and len(again) == 2
    assert float(again[1]["test_accuracy_mean"]) == pytest.approx(0.605)
    assert again[0]["runs"] == "2" and is_sweep(again, again_params)
    assert not is_sweep([{"point": "x", "runs": "1"}], [])


def render(table) -> str:
    console = Console(width=250, record=True)
    console.print(table)
    return console.export_text()


def test_table_shows_only_columns_that_differ_unless_asked():
    rows = [run_row(f"p{i}-{s}", "completed", 0.5 + i / 10, point=f"net[lr={i}]", seed=s,
                    params={"activation": "relu", "lr": str(i)}) for i in range(2) for s in (0, 1)]
    points, params = aggregate(rows)
    text = render(points_table(points, params))
    header = text.splitlines()[2]
    assert "net[lr=0]" in text  # brackets are not taken for markup
    for shown in ("Point", "lr", "n", "Completed", "Diverged", "Test acc"):
        assert shown in header
    for hidden in ("activation", "Failed", "First NaN", "Time s", "Diagnosis"):
        assert hidden not in header
    assert "0.6000 ± 0.0000" in text
    full = render(points_table(points, params, all_columns=True))
    for shown in ("activation", "Failed", "Interrupted", "First NaN", "Time s", "Diagnosis"):
        assert shown in full


def test_show_renders_the_point_table_for_a_sweep_folder(tmp_path):
    rows = [run_row(f"net[lr={i}]-seed{s}", "completed", 0.5, point=f"net[lr={i}]", seed=s,
                    params={"lr": str(i)}) for i in range(2) for s in (0, 1)]
    (tmp_path / "summary.csv").write_text("name,status,run_dir\n" + "".join(
        f"{row['name']},completed,{row['name']}\n" for row in rows))
    write_points(tmp_path, *aggregate([annotate_like(row) for row in rows]))
    result = CliRunner().invoke(main, ["show", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0 and "net[lr=1]" in result.output and "± " in result.output
    per_run = CliRunner().invoke(main, ["show", str(tmp_path), "--runs"], terminal_width=200)
    assert "net[lr=1]-seed1" in per_run.output


def annotate_like(row: dict) -> dict:
    return json.loads(json.dumps(row))


def test_annotate_adds_point_seed_and_formatted_params():
    run = sweep_of(matrix={"optimizer.learning_rate": [0.1]}, repeats=2).runs[1]
    row = annotate({"name": run.config.name, "status": "completed"}, run)
    assert row["point"] == "deep-net[lr=0.1]" and row["seed"] == 4
    assert row["params"] == {"lr": "0.1"}
