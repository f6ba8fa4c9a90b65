"""Hostile inputs that used to pass `validate` and then fail the run: each is caught before
anything trains (exit 2, the file and key named) or simply works."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from mnist_doctor.cli import main
from mnist_doctor.cli.console import UsageProblem, load_sweeps, refuse_oversized
from mnist_doctor.config.loader import parse_config
from mnist_doctor.config.shapes import parameter_counts, training_bytes
from mnist_doctor.data.mnist import DataError, read_npz
from mnist_doctor.runs.folder import OutputFolderError, create_invocation_dir, write_atomic

LAYERS = [{"type": "dense", "units": 10, "activation": "softmax"}]


@pytest.mark.parametrize("text", ["1e-3", "1E-3", "+25e-5", "3e2"])
def test_yaml_1_1_exponent_strings_are_numbers(tmp_path, text):
    path = tmp_path / "lr.yaml"
    path.write_text(f"model: {{layers: [{{type: dense, units: 10}}]}}\n"
                    f"optimizer: {{name: adam, learning_rate: {text}}}\n"
                    f"train: {{epochs: 1, batch_size: 1e2}}\n"
                    f"expect: {{test_accuracy: {{min: 5e-1}}}}\n", encoding="utf-8")
    assert isinstance(yaml.safe_load(path.read_text())["optimizer"]["learning_rate"], str)
    (sweep,) = load_sweeps((str(path),))
    config = sweep.runs[0].config
    assert config.optimizer.learning_rate == pytest.approx(float(text))
    assert config.train.batch_size == 100 and config.expect.bounds[0].min == 0.5


@pytest.mark.parametrize(("key", "value"), [("learning_rate", "fast"), ("learning_rate", True),
                                            ("learning_rate", "nan"), ("momentum", "1e")])
def test_words_and_booleans_are_still_not_numbers(key, value):
    with pytest.raises(Exception, match=f"optimizer.{key}"):
        parse_config({"model": {"layers": LAYERS}, "train": {"epochs": 1},
                      "optimizer": {"name": "sgd", key: value}}, "x.yaml")


def test_parameter_count_and_memory_estimate():
    config = parse_config({"model": {"layers": [{"type": "dense", "units": 100}, *LAYERS]},
                           "train": {"epochs": 1}, "optimizer": {"name": "adam"}}, "x.yaml")
    assert parameter_counts(config) == {0: 785 * 100, 1: 101 * 10}
    assert training_bytes(config) >= 4 * 4 * (78500 + 1010)


def test_a_model_too_big_for_memory_is_refused_naming_file_key_and_size(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump({"model": {"layers": [
        {"type": "dense", "units": 10_000_000_000}, *LAYERS]}, "train": {"epochs": 1}}))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert f"{path}: model.layers[0].units: the model has 7,950,000,000,010 parameters " \
           "(7,850,000,000,000 in this layer); training needs at least" in text
    with pytest.raises(UsageProblem, match="TiB"):
        refuse_oversized(load_sweeps((str(path),)), available=8 * 2**30)
    refuse_oversized(load_sweeps(("configs/baseline.yaml",)), available=8 * 2**30)  # fits


def save_npz(path, **changes):
    arrays = {"x_train": np.zeros((20, 28, 28), "uint8"), "y_train": np.arange(20) % 10,
              "x_test": np.zeros((10, 28, 28), "uint8"), "y_test": np.arange(10)}
    np.savez(path, **{**arrays, **changes})
    return path


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"y_train": np.arange(20)}, "y_train holds labels outside the digits 0-9 (e.g. 10)"),
    ({"y_test": -np.ones(10, "int64")}, "y_test holds labels outside the digits 0-9"),
    ({"y_train": np.full(20, 2.5)}, "y_train holds labels outside"),
    ({"y_train": np.arange(19) % 10}, "x_train has 20 images but y_train has 19 labels"),
])
def test_bad_labels_and_lengths_are_caught_when_the_data_is_loaded(tmp_path, changes, fragment):
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        read_npz(save_npz(tmp_path / "bad.npz", **changes))
    read_npz(save_npz(tmp_path / "good.npz"))


@pytest.mark.parametrize("content", [b"not a zip at all" * 10, b"PK\x03\x04broken"])
def test_a_corrupt_npz_is_named_without_unsafe_advice(tmp_path, write_config, content):
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(content)
    result = CliRunner().invoke(main, ["run", str(write_config()), "--data", str(bad),
                                       "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "not a valid MNIST .npz" in result.output and "x_train (N, 28, 28)" in result.output
    assert "allow_pickle" not in result.output


def test_an_unwritable_out_is_one_line_and_exit_2(tmp_path, write_config):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputFolderError, match="cannot write the output folder"):
        create_invocation_dir(blocker / "out")
    result = CliRunner().invoke(main, ["run", str(write_config()), "--out",
                                       str(blocker / "out"), "--quiet"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    assert result.output.startswith(f"error: cannot write the output folder {blocker / 'out'}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(OutputFolderError):
        create_invocation_dir(folder)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_whole_files_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        write_atomic(tmp_path / "summary.csv", "a\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "summary.csv").stat().st_mode) == 0o666 & ~mask


def test_unicode_and_dotted_names_just_work(tmp_path, write_config):
    tiny_config = yaml.safe_load(write_config("base").read_text(encoding="utf-8"))

    tiny = {"batch_size": 50, "steps": 2, "eval_every": 2}
    configs = []
    for stem, name in (("u", "résumé-数字-ü"), ("d", "../dot"), ("h", ".hidden")):
        configs.append(tmp_path / f"{stem}.yaml")
        configs[-1].write_text(yaml.safe_dump({**tiny_config, "name": name, "train": tiny},
                                              allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", *map(str, configs), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    for folder in ("résumé-数字-ü", "dot", "hidden"):
        info = json.loads((out / folder / "run.json").read_text(encoding="utf-8"))
        assert info["status"] == "completed", info.get("error")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml", "d.yaml", "h.yaml", "out",
                                                          "u.yaml"]
