"""How much memory this process can still allocate (a leaf below every layer: the readers
check a file's decoded size with it, the solver's modules and memory estimate their
allocations)."""

from __future__ import annotations

import os
import resource
from collections.abc import Sequence

from .errors import ResourceError

__all__ = ["available_memory", "check_fits", "memory_message"]


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


def memory_message(
    shape: Sequence[int],
    need: float,
    have: float | None,
    doing: str,
    *,
    hint: str = "crop it or use a machine with more memory",
    source: str | None = None,
) -> str:
    """One line: what an image needs to be ``doing`` (solve, decode, ...), what is available,
    what to do."""
    dims = "x".join(str(int(n)) for n in shape)
    kind = "volume" if len(shape) == 3 else "image"
    avail = f"{_gib(have)} GiB available" if have is not None else "more than is available"
    msg = f"{kind} {dims} needs about {_gib(need)} GiB to {doing}, {avail}; {hint}"
    return f"{source}: {msg}" if source else msg


def check_fits(
    need: float,
    shape: Sequence[int],
    doing: str,
    *,
    hint: str = "crop it or use a machine with more memory",
    source: str | None = None,
    small: float = 0.0,
) -> None:
    """Raise :class:`~ionflow.errors.ResourceError` (:func:`memory_message`) when ``need``
    bytes exceed the memory available; below ``small`` bytes nothing is read."""
    if need < small:
        return
    have = available_memory()
    if have is not None and need > have:
        raise ResourceError(memory_message(shape, need, have, doing, hint=hint, source=source))


def _gib(nbytes: float) -> str:
    gib = nbytes / 2**30
    return f"{gib:.0f}" if gib >= 10 else f"{gib:.1f}"
