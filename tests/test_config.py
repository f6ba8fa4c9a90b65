"""Config loading: defaults, and a clear message naming file and key for every bad input."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from mnist_doctor.cli import main
from mnist_doctor.config import ConfigError, load_config, parse_config, safe_name

MINIMAL = {"model": {"layers": [{"type": "dense", "units": 10, "activation": "softmax"}]},
           "train": {"epochs": 1}}


def problems_of(raw: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "bad.yaml")
    return dict(caught.value.problems)


def with_(**changes) -> dict:
    return {**MINIMAL, **changes}


def test_minimal_config_gets_keras_defaults():
    config = parse_config(MINIMAL, "configs/tiny.yaml")
    assert config.name == "tiny"
    assert config.optimizer.name == "sgd" and config.optimizer.learning_rate == 0.01
    assert config.train.batch_size == 32 and config.train.eval_every == "epoch"
    assert config.layers[0].kernel_init.name == "glorot_uniform"
    assert config.data.normalize and config.data.flatten and config.data.train_on == "train"


def test_resolved_config_round_trips_through_yaml():
    config = parse_config(with_(optimizer={"name": "adam", "learning_rate": 0.003}), "x.yaml")
    again = parse_config(yaml.safe_load(yaml.safe_dump(config.to_yaml_dict())), "x.yaml")
    assert again == config
    assert again.config_hash() == config.config_hash()


def test_config_hash_ignores_name_but_not_learning_rate():
    base = parse_config(MINIMAL, "a.yaml")
    assert parse_config(with_(name="other"), "a.yaml").config_hash() == base.config_hash()
    changed = parse_config(with_(optimizer={"learning_rate": 0.5}), "a.yaml")
    assert changed.config_hash() != base.config_hash()


@pytest.mark.parametrize(("raw", "key", "fragment"), [
    (with_(modle=1), "modle", "did you mean 'model'"),
    (with_(optimizer={"name": "sgd", "learning_rate": -0.1}), "optimizer.learning_rate",
     "must be > 0"),
    (with_(optimizer={"name": "adamw"}), "optimizer.name", "expected one of sgd, adam"),
    (with_(train={"batch_size": 0, "epochs": 1}), "train.batch_size", "must be >= 1"),
    (with_(train={"batch_size": "big", "epochs": 1}), "train.batch_size", "expected an integer"),
    (with_(train={"steps": 10, "epochs": 1}), "train", "exactly one of train.steps or "
                                                       "train.epochs, not both"),
    (with_(train={"batch_size": 10}), "train", "exactly one"),
    (with_(train={"epochs": 1, "eval_every": 0}), "train.eval_every", "'epoch' or a positive"),
    (with_(loss="cross_entropy"), "loss", "did you mean 'crossentropy'"),
    (with_(loss_reduction="avg"), "loss_reduction", "expected one of mean, sum"),
    (with_(data={"train_on": "validation"}), "data.train_on", "expected one of train, test"),
    (with_(data={"normalize": "yes"}), "data.normalize", "expected true or false"),
    (with_(model={"layers": [{"type": "conv2d", "filters": 8},
                             {"type": "flatten"},
                             {"type": "dense", "units": 10}]}),
     "model.layers[0].type", "input is flattened"),
    (with_(model={"layers": [{"type": "dense", "units": 10, "activation": "relu6"}]}),
     "model.layers[0].activation", "did you mean 'relu'"),
    (with_(model={"layers": [{"type": "dense", "units": 10, "kernel_init": "xavier"}]}),
     "model.layers[0].kernel_init", "expected one of zeros"),
    (with_(model={"layers": [{"type": "dense", "units": 10,
                              "kernel_init": {"normal": {"stdev": 1}}}]}),
     "model.layers[0].kernel_init.normal.stdev", "did you mean 'stddev'"),
    (with_(model={"layers": [{"type": "dense", "units": 5}]}), "model.layers[0]",
     "units: 10"),
    (with_(model={"layers": []}), "model.layers", "non-empty list"),
    (with_(model={"layers": [{"type": "dense", "units": 10, "unit": 3}]}),
     "model.layers[0].unit", "did you mean 'units'"),
])
def test_bad_input_names_the_key_and_what_is_expected(raw, key, fragment):
    problems = problems_of(raw)
    assert key in problems, problems
    assert fragment in problems[key]


def test_every_problem_in_a_file_is_reported_at_once():
    problems = problems_of(with_(optimizer={"learning_rate": 0}, train={"batch_size": -1},
                                 seed="x"))
    assert {"optimizer.learning_rate", "seed", "train.batch_size", "train"} <= set(problems)


def test_conv_net_on_images_is_valid():
    config = parse_config(with_(data={"flatten": False}, model={"layers": [
        {"type": "conv2d", "filters": 4, "kernel_size": 5, "padding": "same",
         "activation": "relu", "kernel_init": {"constant": 0.0}},
        {"type": "max_pool2d"}, {"type": "flatten"}, {"type": "dropout", "rate": 0.2},
        {"type": "dense", "units": 10, "activation": "softmax"}]}), "cnn.yaml")
    assert [layer.type for layer in config.layers][:2] == ["conv2d", "max_pool2d"]
    assert config.layers[0].kernel_init.is_constant


def test_a_jitter_rides_on_any_parametrised_initializer_and_round_trips():
    layers = [{"type": "dense", "units": 8, "kernel_init": {"constant": 0.0, "jitter": 1e-7}},
              {"type": "dense", "units": 10,
               "kernel_init": {"normal": {"stddev": 0.1}, "jitter": 1e-3}}]
    config = parse_config(with_(model={"layers": layers}), "j.yaml")
    first, second = (layer.kernel_init for layer in config.layers)
    assert (first.name, first.value, first.jitter) == ("constant", 0.0, 1e-7)
    assert first.is_constant and second.jitter == 1e-3
    assert first.to_yaml() == {"constant": 0.0, "jitter": 1e-7}
    assert parse_config(config.to_yaml_dict(), "again.yaml") == config
    plain = parse_config(with_(model={"layers": [{**layers[0], "kernel_init": {"constant": 0.0}},
                                                 layers[1]]}), "p.yaml")
    assert plain.layers[0].kernel_init.to_yaml() == {"constant": 0.0}
    assert plain.config_hash() != config.config_hash()


@pytest.mark.parametrize(("init", "key", "message"), [
    ({"constant": 0.0, "jitter": -1e-7}, "model.layers[0].kernel_init.jitter", "must be >= 0.0"),
    ({"constant": 0.0, "jitter": "tiny"}, "model.layers[0].kernel_init.jitter", "a number"),
    ({"zeros": None, "jitter": 1e-7}, "model.layers[0].kernel_init", "optionally with jitter"),
    ({"jitter": 1e-7}, "model.layers[0].kernel_init", "{constant: 0.0, jitter: 1.0e-7}"),
])
def test_a_bad_jitter_names_its_key(init, key, message):
    problems = problems_of(with_(model={"layers": [{"type": "dense", "units": 10,
                                                    "kernel_init": init}]}))
    assert message in problems[key]


def test_yaml_errors_and_empty_files_are_config_errors(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: <file>: not valid YAML"):
        load_config(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(empty)


def test_yaml_is_read_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd", "etc-passwd"), ("my run", "my-run"), ("", "run"), ("..", "run"),
    ("deep[act=relu,lr=0.1]", "deep[act=relu,lr=0.1]"), ("a/b\\c", "a-b-c"),
])
def test_run_names_become_safe_path_components(name, expected):
    assert safe_name(name) == expected


def test_validate_cli_reports_every_file_and_exits_2(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(MINIMAL))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_(train={"batch_size": 0, "epochs": 1})))
    worse = tmp_path / "worse.yaml"
    worse.write_text(yaml.safe_dump(with_(loss="nll")))
    result = CliRunner().invoke(main, ["validate", str(good), str(bad), str(worse)])
    assert result.exit_code == 2
    assert f"{bad}: train.batch_size: must be >= 1, got 0" in result.output
    assert f"{worse}: loss: expected one of" in result.output


def test_validate_cli_accepts_shipped_configs():
    from pathlib import Path

    configs = sorted(str(p) for p in Path(__file__).parents[1].glob("configs/*.yaml"))
    result = CliRunner().invoke(main, ["validate", *configs])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == len(configs)
