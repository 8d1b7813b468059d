"""How many CPU threads a run uses, and how its OpenMP threads wait: a policy that survives a shared machine.

torch's CPU kernels run on an OpenMP pool (GNU libgomp in the Linux wheels) of one thread per core. Between
parallel regions libgomp's idle threads spin for up to ``GOMP_SPINCOUNT`` iterations (300,000 by default,
a few hundred microseconds) before sleeping. On a quiet machine that spin is what makes a step of many small
kernels fast; on a 2-core machine where another process holds a core, every region then waits for a thread
that the kernel has descheduled, and a step was measured 11 times slower than with one thread
(bench/threads.py). ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once) cures the busy case but costs 1.4x on a
quiet machine.

The policy, measured in bench/threads.py (bench/README.md, docs/RESULTS.md): ``default_threads()``, used by
train.py when neither ``train.threads`` nor ``OMP_NUM_THREADS`` is set, counts the cores that are idle right
now (two reads of /proc/stat, 0.2 s apart) and uses that many (at least one, at most the cores this process
may run on), so a run started beside a busy process takes one thread, and on a quiet machine everything is as
torch sets it. The spin itself is left alone: a bounded spin (``GOMP_SPINCOUNT`` 1,000 to 100,000) or
``PASSIVE`` cost 10-60% on the quiet machine for the NICE step and only partly helped the busy one, so
``configure_openmp`` sets nothing unless the user asks for it with ``KEXUE_OMP_SPINCOUNT``. The limit: a
competing process that starts after the run does is not seen (set ``train.threads: 1`` on a shared machine).

This module imports nothing heavy: it runs before torch.
"""
from __future__ import annotations

import math
import os
import time

def configure_openmp() -> None:
    """``KEXUE_OMP_SPINCOUNT=N`` becomes libgomp's ``GOMP_SPINCOUNT`` unless the user set a wait policy of
    their own; nothing otherwise (see the module docstring). Call before ``import torch``."""
    spin = os.environ.get("KEXUE_OMP_SPINCOUNT")
    if spin and "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = spin


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return idle, sum(fields[:8])


def idle_cores(interval: float = 0.2) -> float | None:
    """Cores idle over the next ``interval`` seconds (None where /proc/stat is not there)."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(interval)
    second = _cpu_times()
    total = second[1] - first[1]
    if total <= 0:
        return None
    return (second[0] - first[0]) / total * (os.cpu_count() or 1)


def use_default_threads() -> None:
    """Set torch's thread count to ``default_threads()`` (when it gives one), with a note when that is fewer
    than the usable cores."""
    chosen = default_threads()
    if chosen is None:
        return
    import torch

    cores = usable_cores()
    if chosen < cores:
        print(f"note: {chosen} thread(s): only {chosen} of {cores} cores idle now; set train.threads to choose",
              flush=True)
    torch.set_num_threads(chosen)


def default_threads() -> int | None:
    """The thread count for a run that did not choose one: None (leave torch's) when ``OMP_NUM_THREADS`` is
    set, else the idle cores rounded to the nearest whole core, between 1 and ``usable_cores()``."""
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    idle = idle_cores()
    cores = usable_cores()
    if idle is None:
        return cores
    return max(1, min(cores, math.floor(idle + 0.5)))
