"""How much memory this process can still allocate (a leaf below every layer: the readers
check a file's decoded size with it, the solver's modules and memory estimate their
allocations)."""

from __future__ import annotations

import os
import resource

__all__ = ["available_memory"]


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _address_space_left() -> int | None:
    """Room left under ``ulimit -v`` (RLIMIT_AS), or None without a limit."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return None
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return max(soft - int(line.split()[1]) * 1024, 0)
    except (OSError, ValueError, IndexError):
        pass
    return soft


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_left() -> int | None:
    """Memory left in this process's cgroup (v2, or v1's memory controller), or None."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        limit = _read_int(limit_file)
        if limit is None or limit >= 2**60:  # "max", or v1's "unlimited" page-counter value
            continue
        usage = _read_int(usage_file) or 0
        return max(limit - usage, 0)
    return None


def available_memory() -> int | None:
    """Bytes this process can still allocate, or ``None`` where nothing can be read.

    The smallest of ``MemAvailable``, the room under ``ulimit -v`` and the room in the cgroup.
    """
    values = [v for v in (_meminfo_available(), _address_space_left(), _cgroup_left()) if v]
    if os.environ.get("IONFLOW_MEMORY_LIMIT", "").isdigit():  # for tests and shared machines
        values.append(int(os.environ["IONFLOW_MEMORY_LIMIT"]))
    return min(values) if values else None
