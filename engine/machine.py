"""What a run's processes ran on: one line per training process in ``<run>/segments.jsonl``.

A long run is continued with ``--resume auto`` across sessions, and the machine under it can change between
them (here: a 2-core Intel Xeon with AMX one session, an AMD EPYC with AVX-512 BF16 the next, one ~2x the other
on the same run). Wall and CPU seconds in ``metrics.jsonl`` and ``results.json`` add up over every segment, so
reading them needs to know which segment ran where. ``record_segment`` appends, when train.py starts training
(after a resume has loaded), the time, the update and epoch it starts from, the host, CPU model and the CPU
features that change the speed of bf16 (AMX, AVX-512 BF16), the thread count, the device and torch's version.
The file is a record only: nothing reads it to train, and an older run folder without it resumes as before.
"""
from __future__ import annotations

import json
import os
import platform
import socket
import time
from pathlib import Path

import torch

SEGMENTS_NAME = "segments.jsonl"
SPEED_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")  # /proc/cpuinfo names


def cpu_info() -> dict:
    """{"cpu": model name, "cpu_flags": the SPEED_FLAGS it has} from /proc/cpuinfo (platform's names elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return {"cpu": platform.processor() or platform.machine(), "cpu_flags": []}
    field = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("model name", "flags") and key.strip() not in field:
            field[key.strip()] = value.strip()
    flags = set(field.get("flags", "").split())
    return {"cpu": field.get("model name") or platform.machine(), "cpu_flags": [f for f in SPEED_FLAGS if f in flags]}


def cpu_model() -> str:
    return cpu_info()["cpu"]


def describe(device: torch.device | str) -> dict:
    """The machine as a record: host, CPU, usable cores, torch threads, device (with the GPU's name)."""
    device = torch.device(device)
    record = {"host": socket.gethostname(), **cpu_info(),
              "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
              "threads": torch.get_num_threads(), "device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    return record


def record_segment(run_dir: str | Path, step: int, epoch: int, device: torch.device | str) -> dict:
    """Append this process's line to ``<run_dir>/segments.jsonl`` and return it."""
    record = {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "step": step, "epoch": epoch, **describe(device)}
    with open(Path(run_dir) / SEGMENTS_NAME, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    return record


def read_segments(run_dir: str | Path) -> list[dict]:
    """The run's segment records, oldest first ([] for a run folder made before they were written); a torn last
    line (a process killed while appending) is left out."""
    try:
        text = (Path(run_dir) / SEGMENTS_NAME).read_text(encoding="utf-8")
    except OSError:
        return []
    segments = []
    for line in text.splitlines():
        try:
            segments.append(json.loads(line))
        except ValueError:
            continue
    return segments
