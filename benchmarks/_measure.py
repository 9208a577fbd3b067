"""Measuring one benchmark case: a subprocess in its own session, its wall and CPU time, peak
resident memory, and the time / memory limits that stop it.

Used by ``benchmarks/solver.py``. Linux only (reads ``/proc``).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import time
from pathlib import Path


def _session_memory(sid: int) -> tuple[int, int]:
    """Summed VmRSS and largest VmHWM (bytes) of the processes in session ``sid``.

    VmHWM (the high-water mark of a process's own address space) starts afresh at ``exec``,
    unlike ``ru_maxrss``, which would inherit the RSS of this (large) driver process that forked
    the child.
    """
    total = hwm = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
            fields = stat[stat.rfind(b")") + 2 :].split()
            if int(fields[3]) != sid:  # fields: state ppid pgrp session ...
                continue
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1]) * 1024
                    elif line.startswith(b"VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]) * 1024)
        except (OSError, ValueError, IndexError):
            continue
    return total, hwm


def own_hwm() -> float:
    """This process's VmHWM in bytes."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024.0
    return 0.0


def mem_available() -> float:
    """MemAvailable of the machine in bytes (inf if unknown)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024.0
    return math.inf


MIN_FREE = 1.5 * 2**30  # kill a case that leaves the (shared) machine less than this

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def measure(
    cmd: list[str], log_path: Path, timeout: float, mem_limit: float, *, threads: int, cwd: Path
) -> dict:
    """Run ``cmd`` in its own session; wall time, CPU time, peak RSS, and limits.

    ``threads`` goes into the OMP/MKL/OpenBLAS/numba thread variables; ``timeout`` is in s and
    ``mem_limit`` in bytes (resident memory summed over the session).
    """
    load0 = os.getloadavg()[0]
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS})
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd, env=env
        )
        peak_sum = peak_hwm = 0
        status = "ok"
        rusage = None
        rc = None
        while True:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                rc, rusage = os.waitstatus_to_exitcode(st), ru
                break
            rss, hwm = _session_memory(proc.pid)
            peak_sum, peak_hwm = max(peak_sum, rss), max(peak_hwm, hwm)
            elapsed = time.perf_counter() - t0
            over = (
                f"timeout (> {timeout:.0f} s)"
                if elapsed > timeout
                else f"memory (> {mem_limit / 2**30:.0f} GB)"
                if peak_sum > mem_limit
                else "memory (machine low)"
                if mem_available() < MIN_FREE
                else None
            )
            if over:
                status = over
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                _, st, ru = os.wait4(proc.pid, 0)
                rc, rusage = os.waitstatus_to_exitcode(st), ru
                break
            time.sleep(0.1)
        wall = time.perf_counter() - t0
    proc.returncode = rc
    if status == "ok" and rc != 0:
        status = f"failed (exit {rc})"
    return {
        "status": status,
        "process_s": wall,
        "cpu_s": rusage.ru_utime + rusage.ru_stime,
        "peak_mb": max(peak_hwm, peak_sum) / 2**20,
        "ru_maxrss_mb": rusage.ru_maxrss / 2**10,
        "load": (load0, os.getloadavg()[0]),
    }
