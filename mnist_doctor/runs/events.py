"""TensorBoard event files, written next to metrics.csv and telemetry.csv as rows are produced.

Pure `tensorboard` protos and its record framing, no TensorFlow, so both backends (and the
Keras callback) write the same files. Each run folder holds its own events file, so
`tensorboard --logdir runs/<invocation>` lists the runs by folder name. Scalars: `loss/train`,
`loss/test`, `accuracy/train`, `accuracy/test` at every evaluation, and every telemetry row as
`telemetry/<layer>/<metric>` (whole-model rows under `telemetry/model/`). A sweep adds HParams:
one session per run (grouped by grid point, so repeats aggregate) and the experiment at the
invocation root. `tensorboard` is imported when a writer opens, so `--help` stays fast.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from pathlib import Path

EVENTS_PREFIX = "events.out.tfevents"
HPARAMS_FILE = f"{EVENTS_PREFIX}.0.mnist-doctor-hparams"  # fixed name: rewriting replaces it
# metrics.csv column -> scalar tag; grouped by quantity so train and test share a section.
METRIC_TAGS = {"train_loss": "loss/train", "test_loss": "loss/test",
               "train_accuracy": "accuracy/train", "test_accuracy": "accuracy/test"}
TELEMETRY_PREFIX = "telemetry"
MODEL_LAYER = "model"  # telemetry rows with no layer (whole-model loss)


def telemetry_tag(layer: str, metric: str) -> str:
    return f"{TELEMETRY_PREFIX}/{layer or MODEL_LAYER}/{metric}"


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)  # Castagnoli, reflected
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C, rotated and offset (tensorflow/core/lib/hash/crc32c.h).
    Written here because tensorboard's copy imports its whole TensorFlow stub (~0.4-1 s)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class _Records:
    """One events file: TFRecord framing (length, its CRC, data, its CRC) over a plain file,
    flushed after each write."""

    def __init__(self, path: Path):
        from tensorboard.compat.proto.event_pb2 import Event

        self._event = Event
        self._stream = path.open("wb")
        self.write(Event(wall_time=time.time(), file_version="brain.Event:2"))

    def write(self, event) -> None:
        data = event.SerializeToString()
        header = struct.pack("<Q", len(data))
        self._stream.write(header + struct.pack("<I", masked_crc32c(header)) + data
                           + struct.pack("<I", masked_crc32c(data)))

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()


class EventWriter:
    """The scalars of one run. `seconds` adds up the time spent here (the overhead)."""

    def __init__(self, run_dir: Path):
        started = time.perf_counter()
        name = f"{EVENTS_PREFIX}.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        self._records = _Records(Path(run_dir) / name)
        from tensorboard.compat.proto.summary_pb2 import Summary

        self._summary = Summary
        self.seconds = time.perf_counter() - started

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One event holding every value of `values` at `step`."""
        started = time.perf_counter()
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=float(value))
                                       for tag, value in values.items()])
        self._records.write(self._records._event(wall_time=time.time(), step=int(step),
                                                 summary=summary))
        self._records.flush()
        self.seconds += time.perf_counter() - started

    def metrics(self, rows) -> None:
        """metrics.csv rows (METRICS_COLUMNS order) as loss/* and accuracy/* scalars."""
        for row in rows:
            values = dict(zip(("epoch", "step", "train_loss", "train_accuracy", "test_loss",
                               "test_accuracy"), row, strict=False))
            self.scalars(values["step"], {tag: _number(values[column])
                                          for column, tag in METRIC_TAGS.items()})

    def telemetry(self, rows) -> None:
        """telemetry.csv rows (step, layer, metric, value), one event per step."""
        by_step: dict[int, dict[str, float]] = {}
        for step, layer, metric, value in rows:
            by_step.setdefault(int(step), {})[telemetry_tag(layer, metric)] = _number(value)
        for step, values in by_step.items():
            self.scalars(step, values)

    def close(self) -> None:
        self._records.close()


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# -- HParams ---------------------------------------------------------------------------------
def write_hparams(invocation_dir: Path, rows: list[dict], params: list[str]) -> None:
    """The HParams dashboard for a sweep: the experiment (its parameters and the metrics to
    compare) at the invocation root, and one session per run in the run's folder, grouped by
    grid point so repeats of a point aggregate. Fixed file names: rewriting replaces them."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    invocation_dir = Path(invocation_dir)
    columns = [*params, "seed"]
    values = {row["run_dir"]: {**{key: (row.get("params") or {}).get(key) for key in params},
                               "seed": row.get("seed")} for row in rows if row.get("run_dir")}
    numeric = {key: all(_is_number(v[key]) for v in values.values()) for key in columns}
    experiment = api_pb2.Experiment(
        time_created_secs=time.time(),
        hparam_infos=[api_pb2.HParamInfo(
            name=key, type=api_pb2.DATA_TYPE_FLOAT64 if numeric[key] else api_pb2.DATA_TYPE_STRING)
            for key in columns],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag))
                      for tag in METRIC_TAGS.values()])
    _write_plugin_event(invocation_dir / HPARAMS_FILE, "experiment",
                        plugin_data_pb2.HParamsPluginData(experiment=experiment))
    for row in rows:
        run_dir = invocation_dir / str(row.get("run_dir") or "")
        if not row.get("run_dir") or not run_dir.is_dir():
            continue
        start = plugin_data_pb2.SessionStartInfo(group_name=str(row.get("point") or row["name"]),
                                                 start_time_secs=time.time())
        for key in columns:
            value = values[row["run_dir"]][key]
            if numeric[key]:
                start.hparams[key].number_value = float(value)
            else:
                start.hparams[key].string_value = "" if value is None else str(value)
        _write_plugin_event(run_dir / HPARAMS_FILE, "session_start_info",
                            plugin_data_pb2.HParamsPluginData(session_start_info=start))


def _write_plugin_event(path: Path, kind: str, data) -> None:
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata

    tag = {"experiment": metadata.EXPERIMENT_TAG,
           "session_start_info": metadata.SESSION_START_INFO_TAG}[kind]
    summary = Summary(value=[Summary.Value(tag=tag, tensor=metadata.NULL_TENSOR,
                                           metadata=metadata.create_summary_metadata(data))])
    temporary = path.with_name(f".{path.name}.tmp")
    records = _Records(temporary)
    records.write(records._event(wall_time=time.time(), step=0, summary=summary))
    records.close()
    os.replace(temporary, path)


def _is_number(value) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
