"""Benchmark: does memory grow across a sweep? 20 configs in one `mnist-doctor run` invocation.

The sweep cycles through the speed benchmark's experiments, shortened (a 10,000-example training
subset, one epoch; the CNN 40 steps) and each with its own seed, so every run builds, compiles
and trains a fresh model. After the invocation it reads each run's `rss_mb` (resident memory when
the run ended) and `peak_rss_mb` from run.json and prints them with the growth from the
end of the first cycle through the experiments to the last run (the first cycle loads MNIST and
builds the framework's one-time state).

    MNIST_DOCTOR_DATA=/path/mnist.npz python benchmarks/bench_memory.py [--runs 20]
        [--backend tensorflow|jax] [--no-doctor]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "configs/baseline.yaml", ROOT / "benchmarks/configs/forum-batch10.yaml",
           ROOT / "benchmarks/configs/deep5-relu.yaml",
           ROOT / "benchmarks/configs/cnn-constant.yaml"]
# Memory is compared from the end of the first cycle through the four experiments (MNIST
# loaded, every kind of program built once) to the end of the sweep.
SETTLED_AFTER = len(SOURCES)


def sweep_configs(count: int, folder: Path) -> list[Path]:
    paths = []
    for index in range(count):
        config = yaml.safe_load(SOURCES[index % len(SOURCES)].read_text(encoding="utf-8"))
        config["name"] = f"{index:02d}-{config['name']}"
        config["seed"] = index
        config["data"] = {**config.get("data", {}), "train_subset": 10_000}
        conv = not config["data"].get("flatten", True)
        config["train"] = {"batch_size": config["train"]["batch_size"],
                           **({"steps": 40} if conv else {"epochs": 1})}
        path = folder / f"{config['name']}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backend", choices=["tensorflow", "jax"], default="tensorflow")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    parser.add_argument("--no-doctor", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the per-run figures here")
    args = parser.parse_args()
    if "MNIST_DOCTOR_DATA" not in os.environ:
        parser.error("set MNIST_DOCTOR_DATA to an mnist.npz")
    with tempfile.TemporaryDirectory(prefix="mnist-doctor-memory-") as tmp:
        folder = Path(tmp)
        configs = sweep_configs(args.runs, folder)
        command = [sys.executable, "-m", "mnist_doctor", "run", *map(str, configs), "--quiet",
                   "--out", str(folder / "out"), "--backend", args.backend,
                   "--device", args.device, *(["--no-doctor"] if args.no_doctor else [])]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        infos = [json.loads((folder / "out" / c.stem / "run.json").read_text(encoding="utf-8"))
                 for c in configs if (folder / "out" / c.stem / "run.json").is_file()]
    if len(infos) < args.runs:
        sys.exit(f"only {len(infos)} of {args.runs} runs finished:\n{done.stderr[-2000:]}")
    print(f"{'run':24s} {'status':10s} {'rss MB':>8s} {'peak MB':>8s} {'wall s':>7s}")
    for info in infos:
        print(f"{info['name']:24s} {info['status']:10s} {info['rss_mb']:8.1f} "
              f"{info['peak_rss_mb']:8.1f} {info['wall_seconds']:7.2f}")
    rss = [info["rss_mb"] for info in infos]
    settled = rss[SETTLED_AFTER - 1:]
    growth = settled[-1] - settled[0]
    per_run = growth / max(len(settled) - 1, 1)
    print(f"\n{args.backend}: resident memory after run {SETTLED_AFTER}: {settled[0]:.0f} MB, "
          f"after run {len(rss)}: {settled[-1]:.0f} MB, growth {growth:+.0f} MB "
          f"({per_run:+.1f} MB per run); peak {max(i['peak_rss_mb'] for i in infos):.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"backend": args.backend, "runs": infos}, indent=2) + "\n",
                             encoding="utf-8")


if __name__ == "__main__":
    main()
