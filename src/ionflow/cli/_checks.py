"""Option values that parse as numbers but make no sense: refused in one line, up front.

argparse's ``type=float`` lets ``nan``, ``inf`` and ``1e-300`` through. The library refuses
NaN, infinite and wrongly signed physics values itself (``SolveOptions``, ``check_pixel_size``);
what it does not yet refuse are finite magnitudes so far from 1 that the solver's products
and ratios under- or overflow (``--pixel-size 1e-300`` divides by zero, ``--matrix-conductivity
1e200`` overflows the harmonic-mean face conductance). :func:`check_physics` refuses those
right after parsing, for every command that has such options.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable

from .._scale import SCALE_LIMIT  # the library's own bound
from ..errors import InputError

__all__ = ["SCALE_LIMIT", "check_physics"]

# option (argparse dest) -> (its flag, unit, zero allowed)
_SCALES = {
    "pixel_size": ("--pixel-size", "m", False),
    "voxel_size": ("--voxel-size", "m", False),
    "voltage": ("--voltage", "V", False),
    "conductivity": ("--conductivity", "S/m", False),
    "matrix_conductivity": ("--matrix-conductivity", "S/m", True),
    "positive_thickness": ("--positive-thickness", "m", False),
    "negative_thickness": ("--negative-thickness", "m", False),
}


def _values(value: object) -> Iterable[float]:
    if isinstance(value, (list, tuple)):
        yield from (v for v in value if isinstance(v, float))
    elif isinstance(value, float):
        yield value


def _check_scale(flag: str, value: float, unit: str, zero: bool) -> None:
    """Refuse a finite, non-zero ``value`` whose magnitude lies outside 1e-30 .. 1e30 (NaN,
    infinities, zero and signs are left to the library's own checks and messages)."""
    if not math.isfinite(value) or value == 0:
        return
    if not 1 / SCALE_LIMIT <= abs(value) <= SCALE_LIMIT:
        allowed = f"between {1 / SCALE_LIMIT:g} and {SCALE_LIMIT:g} {unit}"
        raise InputError(
            f"{flag} {value:g} is out of range: give a value {allowed}"
            + (" (or 0)" if zero else "")
        )


def check_physics(args: argparse.Namespace) -> None:
    """Refuse pixel sizes, conductivities and voltages of absurd magnitude (see the module).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line; the options it does not have are skipped.

    Raises
    ------
    InputError
        One line naming the option and the range it must lie in.
    """
    for dest, (flag, unit, zero) in _SCALES.items():
        for value in _values(getattr(args, dest, None)):
            _check_scale(flag, value, unit, zero)
    for item in getattr(args, "label_conductivity", None) or ():
        _, _, text = str(item).partition("=")
        try:
            sigma = float(text)
        except ValueError:
            continue  # not LABEL=S: the option's own parser says so
        _check_scale("--label-conductivity", sigma, "S/m", True)
    if getattr(args, "label_conductivity", None):
        for dest, flag, default in (
            ("conductivity", "--conductivity", 1.0),
            ("matrix_conductivity", "--matrix-conductivity", 0.0),
        ):
            if getattr(args, dest, default) != default:
                raise InputError(
                    f"{flag} does not apply with --label-conductivity: give each label's "
                    "conductivity there"
                )
    if getattr(args, "label_conductivity", None):
        for dest, flag in (
            ("conductive_label", "--conductive-label"),
            ("conductive_phase", "--conductive-phase"),
        ):
            if getattr(args, dest, None):
                raise InputError(
                    f"{flag} does not go with --label-conductivity: the conductivities say "
                    "which labels conduct (0 insulates)"
                )
    seed = getattr(args, "seed", None)
    if isinstance(seed, int) and seed < 0:
        raise InputError(f"--seed must be a whole number >= 0, got {seed}")
