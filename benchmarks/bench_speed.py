"""Benchmark: mnist-doctor against the plain Keras script a forum user writes, same experiments.

Each experiment is trained several times each way, in alternation (the order of the ways rotates
every repeat, so neither always runs on a cold or a warm machine), every training in its own
subprocess so backends and state never mix:

  plain       benchmarks/plain_keras.py: Sequential, compile defaults, fit(x, y) on numpy, evaluate
  tensorflow  mnist-doctor run --backend tensorflow, telemetry on (the default cadence)
  tf-off      the same with --no-doctor (telemetry off), to price the telemetry
  jax, jax-off  the same on the JAX backend (--backend jax or both)

Timed alike on both sides: from the raw arrays in memory to the end of the final test-set
evaluation (data scaling, model building, compilation, training, mnist-doctor's per-epoch
evaluations and telemetry included; interpreter start, imports and reading the .npz excluded):
plain_keras.py's `train_seconds` and run.json's `wall_seconds`. The whole subprocess time is
reported too. It also times `mnist-doctor --help` and `validate` and checks they import neither
TensorFlow nor JAX.

    MNIST_DOCTOR_DATA=/path/mnist.npz python benchmarks/bench_speed.py [--repeats 3]
        [--epochs-scale 1.0] [--backend tensorflow|jax|both] [--only NAME,...] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# name -> (config, length key, length at --epochs-scale 1)
EXPERIMENTS = {
    "baseline-b100": (ROOT / "configs/baseline.yaml", "epochs", 5),
    "forum-b10": (ROOT / "benchmarks/configs/forum-batch10.yaml", "epochs", 3),
    "deep5-b100": (ROOT / "benchmarks/configs/deep5-relu.yaml", "epochs", 5),
    "cnn-const-b50": (ROOT / "benchmarks/configs/cnn-constant.yaml", "steps", 300),
}
STARTUP_REPEATS = 5
# XLA's CPU convolutions run ~14x slower than TensorFlow's kernels and JAX has no other path, so
# on a CPU the JAX CNN would take minutes per run; it is timed on GPUs only.
JAX_CPU_SKIP = {"cnn-const-b50"}


def scaled_config(name: str, scale: float, folder: Path) -> tuple[Path, str, int]:
    path, key, length = EXPERIMENTS[name]
    length = max(1, round(length * scale))
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["name"] = name
    config["train"] = {k: v for k, v in config["train"].items() if k not in ("epochs", "steps")}
    config["train"][key] = length
    target = folder / f"{name}.yaml"
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target, key, length


def run_plain(config: Path, key: str, length: int, backend: str) -> dict:
    command = [sys.executable, str(ROOT / "benchmarks/plain_keras.py"), str(config),
               f"--{key}", str(length)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "KERAS_BACKEND": backend})
    process = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"plain script failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": result["train_seconds"], "process_seconds": process,
            "test_accuracy": result["test_accuracy"]}


@dataclass(frozen=True)
class Way:
    """One way to train an experiment: the plain script (backend None) or mnist-doctor."""

    label: str
    backend: str | None = None
    doctor: bool = True
    cold: bool = False  # an empty compilation cache, as on the first run of a model's shapes


def ways_to_run(backends: list[str], telemetry_off: bool, cold: bool) -> list[Way]:
    chosen = [Way("plain")]
    for backend in backends:
        chosen.append(Way(backend, backend))
        if cold:
            chosen.append(Way(f"{backend}-cold", backend, cold=True))
        if telemetry_off:
            chosen.append(Way(f"{backend}-off", backend, doctor=False))
    return chosen


def run_doctor(config: Path, way: Way, device: str, out: Path, cache: Path) -> dict:
    command = [sys.executable, "-m", "mnist_doctor", "run", str(config), "--out", str(out),
               "--quiet", "--backend", way.backend, "--device", device]
    if not way.doctor:
        command.append("--no-doctor")
    env = {**os.environ, "MNIST_DOCTOR_CACHE": str(out / "empty-cache" if way.cold else cache)}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT,
                          env=env)
    process = time.perf_counter() - started
    runs = sorted(out.glob("*/run.json"))
    if not runs:
        raise RuntimeError(f"mnist-doctor run failed:\n{done.stderr[-2000:]}")
    info = json.loads(runs[0].read_text(encoding="utf-8"))
    if info["status"] != "completed":
        raise RuntimeError(f"mnist-doctor run {info['status']}: {info.get('error')}")
    execution = info.get("execution", {})
    return {"seconds": info["wall_seconds"], "process_seconds": process,
            "test_accuracy": info["final"]["test_accuracy"],
            "telemetry_seconds": info.get("telemetry_seconds"),
            "compile_seconds": execution.get("compile_seconds"),
            "path": execution.get("path"), "device": info.get("device"),
            "peak_rss_mb": info.get("peak_rss_mb")}


def benchmark(names, repeats, scale, ways, device, plain_backend, log) -> dict:
    results = {name: {way.label: [] for way in ways} for name in names}
    with tempfile.TemporaryDirectory(prefix="mnist-doctor-bench-") as tmp:
        folder = Path(tmp)
        cache = folder / "cache"
        configs = {name: scaled_config(name, scale, folder) for name in names}
        for name in names:  # untimed: fill the shared compilation cache the warm ways use
            for backend in dict.fromkeys(w.backend for w in ways if w.backend):
                if backend == "jax" and device != "gpu" and name in JAX_CPU_SKIP:
                    continue
                run_doctor(configs[name][0], Way("prime", backend), device,
                           folder / f"{name}-{backend}-prime", cache)
        for repeat in range(repeats):
            order = ways[repeat % len(ways):] + ways[:repeat % len(ways)]
            for name in names:
                config, key, length = configs[name]
                for way in order:
                    if way.backend == "jax" and device != "gpu" and name in JAX_CPU_SKIP:
                        continue
                    if way.backend is None:
                        result = run_plain(config, key, length, plain_backend)
                    else:
                        out = folder / f"{name}-{way.label}-{repeat}"
                        result = run_doctor(config, way, device, out, cache)
                    results[name][way.label].append(result)
                    log(f"[{repeat + 1}/{repeats}] {name:14s} {way.label:16s} "
                        f"{result['seconds']:7.2f} s  acc {result['test_accuracy']:.4f}"
                        + (f"  compile {result['compile_seconds']:.2f} s  telemetry "
                           f"{result['telemetry_seconds']:.2f} s"
                           if result.get("compile_seconds") is not None else ""))
    return {"experiments": {name: {"length": f"{configs[name][2]} {configs[name][1]}",
                                   "runs": runs} for name, runs in results.items()}}


def median(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def best(runs: list[dict]) -> float | None:
    """The fastest repeat: on a shared machine noise only ever adds time."""
    return min((run["seconds"] for run in runs), default=None)


def summary_rows(results: dict, backends: list[str]) -> list[dict]:
    rows = []
    for name, entry in results["experiments"].items():
        runs = entry["runs"]
        plain = median(runs["plain"], "seconds")
        row = {"experiment": name, "length": entry["length"], "plain_s": plain,
               "plain_best_s": best(runs["plain"]),
               "plain_acc": median(runs["plain"], "test_accuracy")}
        for backend in backends:
            on = median(runs[backend], "seconds")
            if on is None:  # not run (the JAX CNN on a CPU)
                row.update({f"{backend}_{key}": None for key in (
                    "s", "speedup", "best_s", "best_speedup", "cold_s", "cold_speedup", "acc",
                    "compile_s", "telemetry", "telemetry_share")})
                continue
            cold = median(runs.get(f"{backend}-cold", []), "seconds")
            off = median(runs.get(f"{backend}-off", []), "seconds")
            row[f"{backend}_s"] = on
            row[f"{backend}_speedup"] = plain / on
            row[f"{backend}_best_s"] = best(runs[backend])
            row[f"{backend}_best_speedup"] = row["plain_best_s"] / row[f"{backend}_best_s"]
            row[f"{backend}_cold_s"] = cold
            row[f"{backend}_cold_speedup"] = plain / cold if cold else None
            row[f"{backend}_acc"] = median(runs[backend], "test_accuracy")
            row[f"{backend}_compile_s"] = median(runs[backend], "compile_seconds")
            row[f"{backend}_telemetry"] = (on - off) / off if off else None
            row[f"{backend}_telemetry_share"] = statistics.median(
                r["telemetry_seconds"] / r["seconds"] for r in runs[backend])
        rows.append(row)
    return rows


def markdown(rows: list[dict], backends: list[str], plain_backend: str) -> str:
    """One table per backend, one line per experiment: medians, speedups over the plain
    script (warm and cold compilation cache), the telemetry's price, test accuracies."""
    short = {"tensorflow": "TF", "jax": "JAX"}

    def number(value, pattern):
        return "-" if value is None else pattern.format(value)

    tables = []
    for b in backends:
        head = ["experiment", "length", f"plain Keras ({short[plain_backend]}) s",
                f"mnist-doctor {short[b]} s", "speedup", "best-run speedup", "cold cache s",
                "speedup cold",
                "telemetry on vs off", "telemetry share", "acc plain", f"acc {short[b]}"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in rows:
            cells = [row["experiment"], row["length"], f"{row['plain_s']:.2f}",
                     number(row[f"{b}_s"], "{:.2f}"), number(row[f"{b}_speedup"], "{:.2f}x"),
                     number(row[f"{b}_best_speedup"], "{:.2f}x"),
                     number(row[f"{b}_cold_s"], "{:.2f}"),
                     number(row[f"{b}_cold_speedup"], "{:.2f}x"),
                     number(row[f"{b}_telemetry"], "{:+.0%}"),
                     number(row[f"{b}_telemetry_share"], "{:.0%}"),
                     f"{row['plain_acc']:.4f}", number(row[f"{b}_acc"], "{:.4f}")]
            lines.append("| " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def startup_times() -> dict:
    """Median seconds of `mnist-doctor --help` and `validate`, and whether either imported a
    training framework (checked in-process the way the console script runs)."""
    config = str(ROOT / "configs/baseline.yaml")
    probe = ("import sys\nfrom mnist_doctor.cli import main\ntry:\n    main(sys.argv[1:])\n"
             "except SystemExit:\n    pass\nprint('IMPORTED', sorted(m for m in "
             "('tensorflow', 'jax', 'keras') if m in sys.modules))")
    out = {}
    for label, args in (("--help", ["--help"]), ("validate", ["validate", config])):
        times = []
        for _ in range(STARTUP_REPEATS):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mnist_doctor", *args], capture_output=True,
                           check=True, cwd=ROOT)
            times.append(time.perf_counter() - started)
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True, check=True, cwd=ROOT)
        imported = done.stdout.strip().splitlines()[-1].removeprefix("IMPORTED ")
        out[label] = {"median_seconds": statistics.median(times), "imported": imported}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs-scale", type=float, default=1.0,
                        help="multiply every experiment's epochs (the CNN's steps)")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "both"], default="both")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    parser.add_argument("--plain-backend", choices=["tensorflow", "jax"], default="tensorflow",
                        help="Keras backend of the plain script (jax where TensorFlow is absent)")
    parser.add_argument("--only", help="comma-separated experiments: " + ", ".join(EXPERIMENTS))
    parser.add_argument("--no-telemetry-off", action="store_true",
                        help="skip the --no-doctor runs that price the telemetry")
    parser.add_argument("--no-cold", action="store_true",
                        help="skip the runs with an empty compilation cache")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args()
    if "MNIST_DOCTOR_DATA" not in os.environ:
        parser.error("set MNIST_DOCTOR_DATA to an mnist.npz (both sides read it)")
    names = args.only.split(",") if args.only else list(EXPERIMENTS)
    backends = ["tensorflow", "jax"] if args.backend == "both" else [args.backend]

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    startup = startup_times()
    for label, entry in startup.items():
        log(f"mnist-doctor {label}: {entry['median_seconds']:.2f} s, imported {entry['imported']}")
    ways = ways_to_run(backends, not args.no_telemetry_off, not args.no_cold)
    results = benchmark(names, args.repeats, args.epochs_scale, ways, args.device,
                        args.plain_backend, log)
    results.update(startup=startup, cpu_count=os.cpu_count(), repeats=args.repeats,
                   plain_backend=args.plain_backend, device=args.device)
    rows = summary_rows(results, backends)
    results["summary"] = rows
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown(rows, backends, args.plain_backend))
    print()
    for label, entry in startup.items():
        print(f"mnist-doctor {label}: {entry['median_seconds']:.2f} s (median of "
              f"{STARTUP_REPEATS}), frameworks imported: {entry['imported']}")


if __name__ == "__main__":
    main()
