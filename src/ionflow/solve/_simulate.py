"""``simulate``: one image or volume in, a :class:`ConductionResult` out."""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

import numpy as np

from .._scale import SCALE_LIMIT, in_scale
from ..errors import InputError, NotConvergedError, ResourceError
from ._assemble import assemble, conductivity_map, percolating_cells, percolating_mask
from ._geometry import cell_spacing, geometry, validate_image
from ._lean import solve_lean
from ._linear import solve_direct, solve_iterative
from ._memory import (
    available_memory,
    check_memory,
    estimate_simulate_bytes,
    out_of_memory_message,
)
from ._multigrid import MultigridSolution
from ._pardiso_grid import grid_pardiso_solve
from ._result import ConductionResult
from ._stencil import Stencil, electrode_currents, face_fluxes
from ._torch_mg import resolve_device, solve_torch

__all__ = ["simulate", "validate_image", "geometry"]

log = logging.getLogger(__name__)

FALLBACK_AFTER = 100
"""With ``method="auto"``, a 3D multigrid solve is handed to the direct solver when, after this
many iterations, its current is still more than ``_lean.GIVE_UP_FACTOR`` (1000) times ``rtol``
from converged, or when it reaches its 500-iteration limit; only for systems of at most
``FALLBACK_MAX_UNKNOWNS`` unknowns whose direct memory estimate fits this machine. Binary
microstructures take 5-35 iterations, real multiphase ones 12-30 (``benchmarks/weak_phase.py``);
cell-level noise labels at contrasts of 1e-4 to 1e-6 take 79-157 and an 80^3 one at 1e-6 is
still far from converged after 100. (A 3D direct solve's time grows as about n^1.7:
55k unknowns take 0.3 s on this project's 2-core machine, 340k 5 s, 2M would take minutes;
``benchmarks/first_solve.py``.)"""
FALLBACK_MAX_UNKNOWNS = 2_000_000
MG_MIN_CONTRAST = 1e-10
"""Below this ratio of the smallest to the largest conductivity of the kept cells the CPU
multigrid is not relied on (``benchmarks/weak_phase.py``: exact to 1e-9 down to 1e-11 on
binder-sheet slabs and to 1e-12 on real electrode crops and noise labels; slabs at 1e-12 never
balance their inlet and outlet currents, whose float64 potentials near 1 cannot carry such
small drops): ``auto`` solves directly when that fits, ``mg`` warns."""
FLOOR_BALANCE_TOL = 1e-5
"""An ``mg`` solve below that contrast checks its inlet and outlet currents to at least this
(relative; they lose digits there, the energy current does not)."""
TORCH_MIN_CONTRAST = 1e-7
"""The same for the torch (GPU) backend, whose float32 coarse diagonals are stored sums: an
isolated cluster's weak coupling out is rounded away below about 1e-7 (slabs at 1e-8 stopped
6.5e-7 off while the estimate said converged)."""

Method = Literal["auto", "direct", "cg", "mg"]
METHODS = ("auto", "direct", "cg", "mg")
Boundary = Literal["insulating", "periodic"]
BOUNDARIES = ("insulating", "periodic")
Electrode = Literal["face", "ghost"]
ELECTRODES = ("face", "ghost")


def simulate(
    image: np.ndarray,
    *,
    axis: int = 0,
    voltage: float = 1.0,
    conductivity: float = 1.0,
    matrix_conductivity: float = 0.0,
    label_conductivities: Mapping[float, float] | None = None,
    pixel_size: float | Sequence[float] | None = None,
    boundary: Boundary = "insulating",
    electrode: Electrode = "face",
    fields: bool = False,
    method: Method = "auto",
    rtol: float = 1e-9,
    balance_tol: float = 1e-6,
    progress: bool = False,
    device: str = "auto",
    source: str | None = None,
) -> ConductionResult:
    """Solve steady conduction div(sigma grad phi) = 0 through an image or volume.

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        Binary microstructure (nonzero = electrolyte) or a label image (with
        ``label_conductivities``).
    axis : int
        Flow axis: phi = ``voltage`` on the face before the first slice, 0 after the last.
    voltage : float
        Applied voltage V in volts.
    conductivity : float
        Electrolyte conductivity sigma in S/m.
    matrix_conductivity : float
        Conductivity of the zero phase in S/m (default 0: insulating active material).
    label_conductivities : mapping, optional
        Conductivity (S/m) per label value, for label images.
    pixel_size : float or sequence of float, optional
        Edge of one pixel/voxel in metres, or one edge per axis in array order for anisotropic
        voxels (e.g. ``(dz, dy, dx)`` of a FIB-SEM stack with thick slices). Default: cubic
        cells and l = 1 (the paper's convention).
    boundary : {"insulating", "periodic"}
        The faces perpendicular to the flow: no flux through them (default), or wrapping
        around (the sample repeats laterally; TauFactor's ``PeriodicSolver``). Percolation
        respects the wrap.
    electrode : {"face", "ghost"}
        Where the Dirichlet planes sit: on the image's own faces, half a cell from the first
        and last cell centres (default; TauFactor's ``Solver`` and development
        ``MultiPhaseSolver``), or one whole cell out, in a ghost cell of the boundary cell's
        material (TauFactor 1.2.1's ``MultiPhaseSolver``; the distance between the electrodes
        is then n + 1 cells). Use "ghost" to reproduce numbers published with TauFactor 1.2.1.
    fields : bool
        Also return the potential and current-density fields.
    method : {"auto", "direct", "cg", "mg"}
        Linear solver; ``"auto"`` is direct in 2D and geometric multigrid CG (``"mg"``) in 3D;
        ``"cg"`` is CG with pyamg's algebraic multigrid. With ``"auto"``, a 3D volume the
        multigrid cannot solve (after 100 iterations still 1000x from the accuracy asked,
        e.g. cell-level noise with extreme conductivity contrasts, or no convergence in 500)
        is solved directly when it has at most 2 million unknowns and fits in memory, with a
        logged warning; ``"mg"`` raises :class:`~ionflow.errors.NotConvergedError` after 500
        iterations instead.
    rtol : float
        Relative accuracy of the current for the iterative solvers. The multigrid reports the
        energy (variational) current, whose error is second order in the residual (it is an
        upper bound that decreases monotonically to the exact current).
    balance_tol : float
        The multigrid solver also iterates until the inlet and outlet currents (first order in
        the residual) agree with each other and with the reported current to this relative
        tolerance. Before this check it shifts the potential of every plane across the flow so
        that each plane carries the same current (a Galerkin correction that only lowers the
        energy error): the inlet and outlet currents then agree to rounding, and
        ``flux_imbalance`` (their mismatch) is about 1e-14; what ``balance_tol`` still bounds is
        their distance to the reported current.
    progress : bool
        Show a progress bar (accuracy and ETA) on stderr while a large 3D system (over a
        million unknowns) is solved; ``logging`` at INFO logs every iteration.
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where the multigrid runs: the CPU (compiled kernels on every core this process may
        use), or a CUDA GPU through PyTorch (``method="auto"``/``"mg"`` only). ``"auto"`` takes
        the GPU for 3D volumes when PyTorch sees one.
    source : str, optional
        Name of the input, used in error messages.

    Returns
    -------
    ConductionResult
    """
    arr = validate_image(image, source=source)
    try:
        axis = operator.index(axis)
    except TypeError:
        raise InputError(f"axis must be an integer, got {axis!r}", source=source) from None
    for name, tol in (("rtol", rtol), ("balance_tol", balance_tol)):
        if not (isinstance(tol, (int, float, np.integer, np.floating)) and 0 < tol < 1):
            raise InputError(f"{name} must be a number between 0 and 1, got {tol!r}")
    if not -arr.ndim <= axis < arr.ndim:
        raise InputError(f"axis {axis} does not exist for a {arr.ndim}D image", source=source)
    axis = axis % arr.ndim
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    fallback = method == "auto"  # the multigrid may hand a hard system to the direct solver
    if method == "auto":
        method = "direct" if arr.ndim == 2 else "mg"
    if boundary not in BOUNDARIES:
        raise InputError(f"unknown boundary {boundary!r}; use one of {', '.join(BOUNDARIES)}")
    if electrode not in ELECTRODES:
        raise InputError(f"unknown electrode {electrode!r}; use one of {', '.join(ELECTRODES)}")
    device = resolve_device(device, arr.ndim) if method == "mg" else "cpu"
    spacing = cell_spacing(arr.shape, axis, pixel_size, source=source)
    if not (math.isfinite(voltage) and voltage != 0):
        raise InputError(f"voltage must be a finite non-zero number, got {voltage}", source=source)
    if not in_scale(voltage):
        raise InputError(
            f"voltage {voltage:g} V is out of range: give a value between {1 / SCALE_LIMIT:g} "
            f"and {SCALE_LIMIT:g} V",
            source=source,
        )
    # Before anything the size of the image is allocated: every conducting cell an unknown.
    binary = not label_conductivities and not matrix_conductivity
    upper = int(np.count_nonzero(arr)) if binary else arr.size
    check_memory(arr.shape, upper, method, fields=fields, binary=binary, source=source)
    try:
        return _simulate(
            arr,
            axis=axis,
            voltage=voltage,
            conductivity=conductivity,
            matrix_conductivity=matrix_conductivity,
            label_conductivities=label_conductivities,
            spacing=spacing,
            explicit_size=pixel_size is not None,
            boundary=boundary,
            electrode=electrode,
            fields=fields,
            method=method,
            fallback=fallback,
            rtol=rtol,
            balance_tol=balance_tol,
            progress=progress,
            device=device,
            source=source,
        )
    except MemoryError as exc:
        if isinstance(exc, ResourceError):
            raise
        need = estimate_simulate_bytes(arr.shape, upper, method, fields=fields, binary=binary)
        raise ResourceError(
            out_of_memory_message(arr.shape, need, available_memory(), source=source)
            + " (ran out of memory part-way)"
        ) from None


def _on_device(
    backend: Callable[..., MultigridSolution],
    keep: np.ndarray,
    axis: int,
    options: dict[str, Any],
    where: str,
) -> tuple[MultigridSolution, str]:
    """The torch (GPU) multigrid, and the CPU one where it converges too slowly; returns the
    solution and the method's name.

    The torch backend has grid coarse levels only: near the percolation threshold they crawl
    (a 128^3 Gaussian random field at 35 % took 140 iterations; larger ones would pass the
    500-iteration limit). When, after ``FALLBACK_AFTER`` iterations, the current is still more
    than ``_lean.GIVE_UP_FACTOR`` times ``rtol`` from converged, or at the limit, the CPU
    multigrid solves it with its coarse levels split into connected pieces (or by cluster)
    from the start; a solve that is nearly there finishes on the device.
    """
    try:
        on_device = dict(options, give_up_after=FALLBACK_AFTER)
        return backend(keep, axis, **on_device), "multigrid-cg-torch"
    except NotConvergedError as exc:
        log.warning(
            "%s%s on the device; solving on the CPU, coarse levels split into connected pieces",
            where,
            exc,
        )
    return solve_lean(keep, axis, split="always", **options), "multigrid-cg"


def _simulate(
    arr: np.ndarray,
    *,
    axis: int,
    voltage: float,
    conductivity: float,
    matrix_conductivity: float,
    label_conductivities: Mapping[float, float] | None,
    spacing: tuple[float, ...],
    explicit_size: bool,
    boundary: str,
    electrode: str,
    fields: bool,
    method: str,
    rtol: float,
    balance_tol: float,
    progress: bool,
    device: str,
    source: str | None,
    fallback: bool = False,
) -> ConductionResult:
    # the potential is needed for the fields and, with periodic faces, the mean current
    # density (the cross-currents of the conductivity tensor)
    want_x = fields or boundary == "periodic"
    # A binary image on the lean multigrid needs no conductivity map (8 bytes per cell).
    sigma, electrolyte, sigma_ref = conductivity_map(
        arr,
        conductivity=conductivity,
        matrix_conductivity=matrix_conductivity,
        label_conductivities=label_conductivities,
        source=source,
        as_mask=method == "mg" and not want_x,
    )
    if not electrolyte.any():
        if matrix_conductivity > 0 and not label_conductivities:
            raise InputError(
                "image has no electrolyte pixel (all matrix): nothing to compare its "
                "conductivity with",
                source=source,
            )
        raise InputError("image is entirely insulating (no conductive pixel)", source=source)
    conductive = electrolyte if sigma is None else sigma > 0
    periodic = tuple(d for d in range(arr.ndim) if d != axis) if boundary == "periodic" else ()
    if want_x:  # the dead-end clusters' potentials (1 or 0) go into the field
        keep, inlet_only, outlet_only = percolating_mask(conductive, axis, periodic)
    else:
        keep = percolating_cells(conductive, axis, periodic)
    if conductive is electrolyte or np.array_equal(conductive, electrolyte):
        perc_electrolyte = keep
    else:  # a conductive matrix: percolation is a property of the electrolyte phase alone
        perc_electrolyte = percolating_cells(electrolyte, axis, periodic)
    del conductive
    h, length, area = geometry(arr.shape, axis, spacing)
    # Reduced units: cell edges relative to the edge along the flow. Physical current =
    # reduced current * sigma_ref * V * (h along the flow in 3D, the prism's depth l in 2D).
    relative = tuple(e / h for e in spacing)
    isotropic = all(abs(r - 1.0) < 1e-12 for r in relative)
    gap = 1.0 if electrode == "ghost" else 0.5
    stencil = Stencil(spacing=None if isotropic else relative, periodic=periodic, gap=gap)
    scale = sigma_ref * voltage * (length if arr.ndim == 2 else h)
    between = length + 2.0 * (gap - 0.5) * h  # distance between the two Dirichlet planes

    x = np.zeros(0)
    iterations = 0
    accuracy = 0.0
    used = "none"
    i_in = i_out = 0.0
    reduced = None  # the current: I_in, or the multigrid's energy current
    if keep.any():
        unknowns = int(np.count_nonzero(keep))
        check_memory(
            arr.shape,
            unknowns,
            method,
            fields=fields,
            binary=sigma is None,
            source=source,
        )
        solver = method
        if method == "mg":
            # one conductivity on the kept cells: the binary kernels (nothing stored per cell)
            kept = None if sigma is None else sigma[keep]
            binary = kept is None or bool(np.all(kept == 1.0))
            contrast = 1.0 if kept is None or binary else float(kept.min() / kept.max())
            del kept
            backend = solve_lean if device == "cpu" else partial(solve_torch, device=device)
            direct_fits = fallback and _direct_fits(arr.shape, unknowns, fields)
            where = f"{source}: " if source else ""
            floor = MG_MIN_CONTRAST if device == "cpu" else TORCH_MIN_CONTRAST
            if contrast < floor:
                if direct_fits:
                    log.warning(
                        "%sconductivity contrast %.1e is below the multigrid's %.0e; solving "
                        "directly",
                        where,
                        contrast,
                        floor,
                    )
                    solver = "direct"
                else:
                    # the inlet and outlet currents lose digits there (6e-6 apart on slabs at
                    # 1e-11 on one machine, with the current itself exact to 3e-16)
                    balance_tol = max(balance_tol, FLOOR_BALANCE_TOL)
                    log.warning(
                        "%sconductivity contrast %.1e is below %.0e: the multigrid's current "
                        "may be off by up to ~1e-6, its inlet and outlet currents are checked "
                        "to %.0e only (method='direct' is exact, if it fits)",
                        where,
                        contrast,
                        floor,
                        balance_tol,
                    )
        if solver == "mg":
            options: dict[str, Any] = {
                "sigma": None if binary else sigma,
                "rtol": rtol,
                "balance_tol": balance_tol,
                "give_up_after": FALLBACK_AFTER if direct_fits else None,
                "return_x": want_x,
                "stencil": stencil,
                "progress": progress,
            }
            mg_used = "multigrid-cg"
            try:
                if device == "cpu":
                    sol = backend(keep, axis, **options)
                else:
                    sol, mg_used = _on_device(backend, keep, axis, options, where)
            except NotConvergedError as exc:
                if not direct_fits:
                    raise
                log.warning("%s%s; solving directly", where, exc)
                solver = "direct"
                if sigma is None:  # the direct paths need the conductivity map
                    sigma = electrolyte.astype(np.float64)
            else:
                if want_x and sol.x is not None:
                    x = sol.x
                i_in, i_out, reduced = sol.inlet, sol.outlet, sol.current
                used = mg_used
                iterations, accuracy = sol.iterations, sol.accuracy
        if solver == "direct" and (grid := _grid_direct(sigma, keep, axis, stencil)):
            x, i_in, i_out = grid
            used = "pardiso"
        elif solver != "mg":
            system = assemble(sigma, keep, axis, stencil)
            if solver == "direct":
                x, used = solve_direct(system)
            else:
                ramp = 1.0 - (np.arange(arr.shape[axis]) + 0.5) / arr.shape[axis]
                shape = [1] * arr.ndim
                shape[axis] = -1
                x0 = np.broadcast_to(ramp.reshape(shape), arr.shape)[keep]
                x, used, iterations, accuracy = solve_iterative(system, x0, rtol=rtol)
            i_in, i_out = system.currents(x)
    if reduced is None:  # a direct solve: the outlet current, summed from potentials near 0
        reduced = i_out  # (next to the inlet, 1 - x loses digits when little current flows)
    current = reduced * scale
    conductivity_eff = current * between / (voltage * area)
    relative_sigma = conductivity_eff / sigma_ref
    fraction = float(electrolyte.mean())
    percolating = reduced > 0
    imbalance = abs(i_in - i_out) / abs(reduced) if percolating else 0.0
    if used == "pardiso" or used == "superlu":
        accuracy = imbalance

    potential = current_density = None
    mean_density = None
    if want_x:
        phi = np.full(arr.shape, np.nan)
        phi[inlet_only] = 1.0
        phi[outlet_only] = 0.0
        phi[keep] = x
        potential, current_density = _fields(phi, sigma, keep, axis, stencil)
        potential = potential * voltage
        # flux through a face / its area: reduced * sigma_ref V / (h * prod(rel) / rel_d)
        cell = float(np.prod(relative))
        for d in range(arr.ndim):
            current_density[d] *= sigma_ref * voltage * relative[d] / (h * cell)
        mean_density = tuple(float(v) for v in current_density.reshape(arr.ndim, -1).mean(1))
        if not fields:
            potential = current_density = None

    return ConductionResult(
        current=float(current),
        resistance=float(voltage / current) if percolating else math.inf,
        conductivity=float(conductivity_eff),
        relative_conductivity=float(relative_sigma),
        tortuosity=float(fraction / relative_sigma) if percolating else math.inf,
        electrolyte_fraction=fraction,
        percolating_fraction=float(perc_electrolyte.mean()),
        percolating=bool(percolating),
        inlet_current=float(i_in * scale),
        outlet_current=float(i_out * scale),
        flux_imbalance=float(imbalance),
        accuracy=float(accuracy),
        axis=int(axis),
        shape=tuple(int(n) for n in arr.shape),
        voltage=float(voltage),
        sigma=float(sigma_ref),
        length=float(length),
        area=float(area),
        method=used,
        iterations=int(iterations),
        pixel_size=tuple(float(e) for e in spacing) if explicit_size else None,
        boundary=boundary,
        electrode=electrode,
        mean_current_density=mean_density if boundary == "periodic" else None,
        potential=potential,
        current_density=current_density,
    )


def _direct_fits(shape: tuple[int, ...], unknowns: int, fields: bool) -> bool:
    """Whether the direct solver may take over a multigrid solve: few enough unknowns
    (``FALLBACK_MAX_UNKNOWNS``), and its memory estimate fits this machine."""
    if unknowns > FALLBACK_MAX_UNKNOWNS:
        return False
    try:
        check_memory(shape, unknowns, "direct", fields=fields)
    except ResourceError:
        return False
    return True


def _grid_direct(
    sigma: np.ndarray, keep: np.ndarray, axis: int, stencil: Stencil
) -> tuple[np.ndarray, float, float] | None:
    """2D direct solve on the shared full-grid pattern (see ``_pardiso_grid``), or None."""
    try:
        phi = grid_pardiso_solve(sigma, keep, axis, stencil)
    except RuntimeError as exc:
        log.warning("%s; using the general direct solver", exc)
        return None
    if phi is None:
        return None
    w = stencil.electrode_weight(2, axis)
    i_in, i_out = electrode_currents(phi, np.where(keep, sigma, 0.0), axis, weight=w)
    return phi[keep], i_in, i_out


def _fields(
    phi: np.ndarray, sigma: np.ndarray, keep: np.ndarray, axis: int, stencil: Stencil
) -> tuple[np.ndarray, np.ndarray]:
    """Reduced flux per cell and axis: the mean of the fluxes through a cell's two faces."""
    s = np.where(keep, sigma, 0.0)
    w = stencil.weights(phi.ndim)
    density = np.zeros((phi.ndim, *phi.shape))
    for d in range(phi.ndim):
        faces = face_fluxes(
            phi,
            s,
            d,
            axis=axis,
            weight=w[d],
            periodic=stencil.is_periodic(d),
            electrode_weight=stencil.electrode_weight(phi.ndim, axis),
        )
        lo = [slice(None)] * phi.ndim
        hi = [slice(None)] * phi.ndim
        lo[d] = slice(None, -1)
        hi[d] = slice(1, None)
        density[d] = 0.5 * (faces[tuple(lo)] + faces[tuple(hi)])
    return phi, density
