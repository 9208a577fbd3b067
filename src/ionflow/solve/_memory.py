"""Will a 3D solve fit in memory? Checked before assembling, so a volume that is too large fails
at once with a clear :class:`~ionflow.ResourceError` instead of swapping or being killed."""

from __future__ import annotations

from ..errors import ResourceError

__all__ = ["available_memory", "check_memory", "estimate_solve_bytes"]

# Peak memory of the solve phase (assembly, hierarchy, Krylov vectors), on top of the image and
# the conductivity / cluster arrays that exist before it, in bytes per voxel of the volume and
# per unknown (kept voxel). Multigrid: fitted to the traced peak of 200^3 spheres (45 %
# electrolyte, 680 MB) and a uniform 160^3 block (673 MB): ~20 B per voxel + 144 B per unknown,
# rounded up. pyamg's smoothed aggregation needs ~330 B per unknown (60^3 blobs) and the sparse direct
# solver more still (the
# direct solver's fill-in grows faster than linearly, so its figure is only a floor).
_BYTES = {"mg": (25.0, 150.0), "cg": (25.0, 400.0), "direct": (25.0, 1500.0)}
_SAFETY = 1.1


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, or ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def estimate_solve_bytes(cells: int, unknowns: int, method: str) -> float:
    """Estimated extra peak memory (bytes) of a 3D solve with ``method`` ("mg", "cg", "direct")."""
    per_cell, per_unknown = _BYTES.get(method, _BYTES["cg"])
    return _SAFETY * (per_cell * cells + per_unknown * unknowns)


def check_memory(
    shape: tuple[int, ...], unknowns: int, method: str, *, source: str | None = None
) -> None:
    """Raise :class:`ResourceError` when the solve would not fit in the available memory."""
    cells = 1
    for n in shape:
        cells *= int(n)
    need = estimate_solve_bytes(cells, unknowns, method)
    have = available_memory()
    if have is None or need <= have:
        return
    dims = "x".join(str(int(n)) for n in shape)
    msg = (
        f"volume {dims} needs about {_gib(need)} GiB to solve, {_gib(have)} GiB available; "
        "crop it or use a machine with more memory"
    )
    raise ResourceError(f"{source}: {msg}" if source else msg)


def _gib(nbytes: float) -> str:
    gib = nbytes / 2**30
    return f"{gib:.0f}" if gib >= 10 else f"{gib:.1f}"
