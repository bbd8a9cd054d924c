"""Read an offline W&B run back from its .wandb file with W&B's own record type (wandb.proto), no network.

wandb 0.31 no longer ships a Python reader of the file (its writer is the Go `wandb-core`); the framing
is LevelDB's log format, which wandb has always used: a 7-byte header (":W&B", magic, version), then
32 KiB blocks of chunks, each `crc32 (4) | length (2) | type (1) | payload`, a record split over
FIRST/MIDDLE/LAST chunks when it crosses a block.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path):
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, pending = CHUNK_HEADER, b""
    while pos + CHUNK_HEADER <= len(data):
        if BLOCK - pos % BLOCK < CHUNK_HEADER:  # block trailer: padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        pos += CHUNK_HEADER
        if kind == 0 and length == 0:
            break
        pending += data[pos : pos + length]
        pos += length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


@dataclass
class OfflineRun:
    name: str = ""
    job_type: str = ""
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)  # one dict per logged row, nested keys joined by "/"

    @property
    def keys(self) -> set[str]:
        return {key for row in self.history for key in row}

    def values(self, key: str) -> list:
        return [row[key] for row in self.history if key in row]


def finished_records(log: Path, timeout: float = 30.0) -> list:
    """All records once the run's exit record is written: wandb.finish() returns before wandb-core, a
    separate process, has flushed the log."""
    deadline = time.monotonic() + timeout
    while True:
        records = list(read_records(log))
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def read_offline_run(run_dir: Path) -> OfflineRun:
    (log,) = run_dir.glob("run-*.wandb")
    run = OfflineRun()
    for record in finished_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":  # later run records update some fields and leave the others empty
            run.name = run.name or record.run.display_name
            run.job_type = run.job_type or record.run.job_type
        elif kind == "config":
            for item in record.config.update:
                run.config[item.key] = json.loads(item.value_json)
        elif kind == "history":
            run.history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                                for item in record.history.item})
    return run
