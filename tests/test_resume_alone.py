"""An invocation folder keeps sight of all its runs: `--resume DIR` alone knows its configs,
a summary covers every run in the folder, and reusing a folder's --out is refused."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner

from mnist_doctor.cli import main

TINY = {"batch_size": 50, "steps": 2, "eval_every": 2}


def summary_names(out) -> list[str]:
    with (out / "summary.csv").open(newline="", encoding="utf-8") as stream:
        return sorted(row["name"] for row in csv.DictReader(stream))


def test_resume_alone_fewer_configs_and_reused_out(write_config, tmp_path):
    alpha, beta = write_config("alpha", train=TINY), write_config("beta", train=TINY)
    out = tmp_path / "out"
    runner = CliRunner()
    first = runner.invoke(main, ["run", str(alpha), str(beta), "--out", str(out), "--quiet"])
    assert first.exit_code == 0, first.output
    assert json.loads((out / "invocation.json").read_text())["configs"] == [
        str(alpha.resolve()), str(beta.resolve())]

    reused = runner.invoke(main, ["run", str(alpha), "--out", str(out), "--quiet"])
    assert reused.exit_code == 2
    assert f"{out} already holds the runs of an earlier invocation; continue it with " \
           f"--resume {out}" in " ".join(reused.output.split())

    fewer = runner.invoke(main, ["run", str(alpha), "--resume", str(out), "--quiet"])
    assert fewer.exit_code == 0, fewer.output
    assert summary_names(out) == ["alpha", "beta"]  # beta was not given, but is in the folder
    assert "beta" in runner.invoke(main, ["show", str(out)]).output

    info = json.loads((out / "beta" / "run.json").read_text())
    (out / "beta" / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
    alone = runner.invoke(main, ["run", "--resume", str(out), "--quiet"])
    assert alone.exit_code == 0, alone.output
    assert "resume: 1 recorded run kept; 1 to run (1 interrupted)" in alone.output
    assert summary_names(out) == ["alpha", "beta"]
    assert json.loads((out / "beta" / "run.json").read_text())["status"] == "completed"


def test_resume_alone_without_a_record_says_what_to_give(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["run", "--resume", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "records no configs" in result.output
    assert CliRunner().invoke(main, ["run"]).exit_code == 2
