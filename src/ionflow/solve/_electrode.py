"""Electrode tortuosity factor and diffusion impedance of a porous electrode.

The setting (Nguyen et al. 2020, npj Comput. Mater. 6, 123; TauFactor's ``ElectrodeSolver`` and
``ImpedanceSolver``): the electrolyte (``conductive_label``) fills the pores of an electrode
whose active material (``reactive_label``) is a perfect electronic conductor at potential 0. The
separator side of the image (the face before the first slice along ``axis``) is held at
potential 1; the current collector (the face after the last slice) blocks ionic current; the
other faces are insulating or periodic. Every face between an electrolyte cell and an active
cell is a double-layer capacitor of unit capacitance per unit area; faces to other phases (a
binder label, say) are inert. In the frequency domain, with reduced angular frequency
``omega`` (``omega_phys * C_dl * h / sigma`` for a double-layer capacitance ``C_dl`` in F/m^2,
cell edge ``h`` and electrolyte conductivity ``sigma``), the potential solves

    (A + j omega D) phi = b

on the electrolyte cells connected to the separator, with ``A`` the conduction operator of
:mod:`ionflow.solve._stencil` (Dirichlet through half a cell at the separator, nothing at the
collector) and ``D`` the interface area of each cell. The impedance is ``Z = 1 / I`` with ``I``
the current through the separator face (reduced units: divide by ``sigma * h`` in 3D, by
``sigma * l`` for a 2D image, for ohms).

Electrode tortuosity factor: the low-frequency limit ``Re Z(omega -> 0)`` is the effective
ionic resistance the electrode shows when every interface is charged uniformly (``R_ion / 3``
for a homogeneous electrode, the classic transmission-line result). It is computed exactly,
without complex arithmetic or frequency sweeps, from one real symmetric solve: with
``phi = 1 - j omega psi + O(omega^2)``, ``A psi = D 1`` and ``Re Z(0) = (d . psi) / (sum d)^2``.
``tau_e`` is that value divided by the same quantity of a homogeneous electrode of equal
thickness, electrolyte fraction and interface area discretised the same way (a chain of
``n`` cells: ``(2 n^2 + 1) / (6 n) / (eps * cross-section)``), so straight pores of uniform
interface give exactly 1 and ``tau_e`` carries no discretisation offset. ``tau_e`` is to the
electrode what ``tau`` (``simulate``'s tortuosity factor, through-plane with two electrolyte
reservoirs) is to a separator; the two agree for straight pores and usually differ otherwise
because ``tau_e`` weights the paths near the separator more.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ._assemble import _check_binary, assemble, percolating_mask
from ._geometry import cell_spacing, validate_image
from ._lean import solve_lean_source
from ._memory import check_memory
from ._multigrid import percent_bar
from ._stencil import Stencil

log = logging.getLogger(__name__)

__all__ = ["ElectrodeResult", "electrode_tortuosity", "impedance", "ideal_impedance"]


@dataclass(frozen=True)
class ElectrodeResult:
    """Electrode tortuosity factor and related quantities of one image along one axis.

    Attributes
    ----------
    tau_e : float
        Electrode tortuosity factor (dimensionless; ``inf`` when no electrolyte reaches the
        separator face or no interface is connected).
    electrolyte_fraction : float
        Volume fraction of the electrolyte label.
    interface_density : float
        Electrolyte/active interface area per volume of the image, in units of ``1 / h``
        (``h``: the voxel edge along ``axis``; multiply by ``1 / h`` for 1/m); counted on
        voxel faces, no smoothing correction.
    resistance_low_frequency : float
        ``Re Z(omega -> 0)`` in reduced units (see the module docstring).
    resistance_ideal : float
        The same for the homogeneous reference electrode.
    connected_interface : float
        Fraction of the interface area that lies on electrolyte connected to the separator.
    axis : int
        Through-thickness axis; the separator is before its first slice.
    shape : tuple of int
        Shape of the image.
    boundary : str
        ``"insulating"`` or ``"periodic"`` lateral faces.
    pixel_size : tuple of float or None
        Cell edge along every axis (m); ``None`` when none was given (the l = 1 convention).
    """

    tau_e: float
    electrolyte_fraction: float
    interface_density: float
    resistance_low_frequency: float
    resistance_ideal: float
    connected_interface: float
    axis: int
    shape: tuple[int, ...]
    boundary: str = "insulating"
    pixel_size: tuple[float, ...] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (infinities become ``None``)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


@dataclass
class _Electrode:
    A: sp.csr_matrix | None  # conduction operator (separator Dirichlet, blocking collector)
    b: np.ndarray  # separator coupling (V = 1)
    d: np.ndarray  # interface area per unknown
    inlet: np.ndarray
    g_in: np.ndarray
    fraction: float
    interface_total: float
    cross_section: float  # cells of one slice times the face area (reduced)
    n: int
    shape: tuple[int, ...]
    axis: int
    lean: tuple[np.ndarray, Stencil, np.ndarray] | None = None  # (keep, stencil, area grid)


def _phases(
    arr: np.ndarray, conductive_label: float | None, reactive_label: float | None, source
) -> tuple[np.ndarray, np.ndarray]:
    if conductive_label is None:
        # every nonzero value conducts: only in a binary image (a 0/85/170 volume would make
        # its binder conduct, silently)
        _check_binary(
            arr,
            source,
            hint="give conductive_label (--conductive-label L) and, if the reacting material "
            "is not 0, reactive_label (--reactive-label L)",
        )
        pore = arr != 0
    else:
        pore = arr == conductive_label
    solid = (arr == 0) if reactive_label is None else (arr == reactive_label)
    if not pore.any():
        if conductive_label is not None:
            present = ", ".join(f"{v:g}" for v in np.unique(arr)[:8].tolist())
            raise InputError(
                f"no electrolyte cell: conductive label {conductive_label:g} is not in the "
                f"image (its values: {present}{', ...' if np.unique(arr).size > 8 else ''})",
                source=source,
            )
        raise InputError("no electrolyte cell (conductive label) in the image", source=source)
    if reactive_label is not None and not solid.any():
        raise InputError(
            f"no active-material cell (reactive label {reactive_label:g}) in the image",
            source=source,
        )
    if np.any(pore & solid):
        raise InputError("the conductive and reactive labels must differ", source=source)
    return pore, solid


def _interface_areas(
    pore: np.ndarray, solid: np.ndarray, stencil: Stencil, relative: Sequence[float]
) -> np.ndarray:
    """Area of electrolyte/active faces around every cell (reduced units; 0 off the pores)."""
    cell = float(np.prod(relative))
    area = np.zeros(pore.shape)
    for d in range(pore.ndim):
        a = cell / relative[d]
        if stencil.is_periodic(d):
            for shift in (1, -1):
                area += a * (pore & np.roll(solid, shift, axis=d))
            continue
        lo = tuple(slice(None, -1) if k == d else slice(None) for k in range(pore.ndim))
        hi = tuple(slice(1, None) if k == d else slice(None) for k in range(pore.ndim))
        both = pore[lo] & solid[hi]
        area[lo] += a * both
        both = pore[hi] & solid[lo]
        area[hi] += a * both
    return area


def _build(
    image,
    *,
    axis: int,
    conductive_label,
    reactive_label,
    pixel_size,
    boundary: str,
    source,
    multigrid: bool = False,
) -> tuple[_Electrode | None, tuple[float, ...], float]:
    """The electrode system (None when nothing reacts or connects), the cell spacing and the
    electrolyte fraction; with ``multigrid`` a large 3D system is left to the solver's own
    matrix-free multigrid instead of assembled (``_Electrode.lean``; ``A`` is then None)."""
    arr = validate_image(image, source=source)
    if not -arr.ndim <= axis < arr.ndim:
        raise InputError(f"axis {axis} does not exist for a {arr.ndim}D image", source=source)
    axis %= arr.ndim
    if boundary not in ("insulating", "periodic"):
        raise InputError(f"unknown boundary {boundary!r}; use insulating or periodic")
    # a large 3D system goes to the lean multigrid (with the area map: "mg" with
    # conductivities), else to the assembled AMG-CG (impedance) or a direct solve
    method = "direct" if arr.size < 2e5 else ("mg" if multigrid and arr.ndim == 3 else "cg")
    check_memory(arr.shape, int(np.count_nonzero(arr)), method, source=source)
    spacing = cell_spacing(arr.shape, axis, pixel_size, source=source)
    relative = tuple(e / spacing[axis] for e in spacing)
    periodic = tuple(d for d in range(arr.ndim) if d != axis) if boundary == "periodic" else ()
    isotropic = all(abs(r - 1.0) < 1e-12 for r in relative)
    stencil = Stencil(spacing=None if isotropic else relative, periodic=periodic)
    pore, solid = _phases(arr, conductive_label, reactive_label, source)
    both, inlet_only, _ = percolating_mask(pore, axis, periodic)
    keep = both | inlet_only  # electrolyte connected to the separator face
    area = _interface_areas(pore, solid, stencil, relative)
    total_area = float(area.sum())
    cross = float(
        np.prod([n * r for k, (n, r) in enumerate(zip(arr.shape, relative)) if k != axis])
    )
    if not keep.any() or total_area == 0.0:
        return None, spacing, float(pore.mean())
    common: dict[str, Any] = dict(
        fraction=float(pore.mean()),
        interface_total=total_area,
        cross_section=cross,
        n=arr.shape[axis],
        shape=tuple(int(n) for n in arr.shape),
        axis=axis,
    )
    if multigrid and arr.ndim == 3 and int(keep.sum()) > DIRECT_MAX:
        empty = np.zeros(0)
        return (
            _Electrode(None, empty, area[keep], empty, empty, lean=(keep, stencil, area), **common),
            spacing,
            common["fraction"],
        )
    system = assemble(pore.astype(np.float64), keep, axis, stencil)
    A = system.A.tocsr(copy=True)
    # the collector blocks: remove the outlet electrode coupling from the diagonal
    diag = A.diagonal()
    np.subtract.at(diag, system.outlet, system.g_outlet)
    A.setdiag(diag)
    data = _Electrode(
        A=A,
        b=system.b,
        d=area[keep],
        inlet=system.inlet,
        g_in=system.g_inlet,
        **common,
    )
    return data, spacing, data.fraction


DIRECT_MAX = 8_000  # 3D unknowns; above, AMG-CG (SuperLU's 3D fill-in grows fast: 4x slower at
DIRECT_MAX_2D = 200_000  # 48^3 already); 2D sparse LU stays cheap much longer
ENERGY_RTOL = 1e-10
"""Relative accuracy of ``Re Z(0)`` (the variational estimate ``d . psi + psi . r``) at which
the multigrid path of :func:`electrode_tortuosity` stops."""


def _spd_solve(A: sp.csr_matrix, rhs: np.ndarray, ndim: int = 3) -> np.ndarray:
    """Solve the SPD system: sparse LU when small (DIRECT_MAX, DIRECT_MAX_2D unknowns), else
    CG preconditioned by pyamg's smoothed aggregation to a relative residual of 1e-12."""
    return _spd_solver(A, ndim)(rhs)


def _spd_solver(
    A: sp.csr_matrix,
    ndim: int = 3,
    *,
    rtol: float = 1e-12,
    what: str = "the electrode system",
    on_iteration: Callable[[int], None] | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """A solve function for any number of right-hand sides of one SPD system, set up once:
    a sparse LU factorisation when small (DIRECT_MAX, DIRECT_MAX_2D unknowns), else one pyamg
    smoothed-aggregation hierarchy preconditioning CG to a relative residual of ``rtol``
    (``on_iteration(k)`` after each CG iteration k of a solve, for progress reports)."""
    if A.shape[0] <= (DIRECT_MAX_2D if ndim == 2 else DIRECT_MAX):
        from scipy.sparse.linalg import splu

        lu = splu(A.tocsc())
        return lambda rhs: np.asarray(lu.solve(np.asarray(rhs, dtype=np.float64)))
    import pyamg
    from scipy.sparse.linalg import cg

    ml = pyamg.smoothed_aggregation_solver(A, symmetry="hermitian", max_coarse=500)
    M = ml.aspreconditioner()

    def solve(rhs: np.ndarray) -> np.ndarray:
        count = [0]

        def tick(_: np.ndarray) -> None:
            count[0] += 1
            if on_iteration is not None:
                on_iteration(count[0])

        x, info = cg(A, rhs, rtol=rtol, maxiter=2000, M=M, callback=tick)
        if info:
            raise InputError(f"{what} did not converge ({info} iterations)")
        return np.asarray(x)

    return solve


def ideal_low_frequency_resistance(n: int, fraction: float, cross_section: float) -> float:
    """``Re Z(0)`` of a homogeneous electrode discretised as a chain of ``n`` cells.

    Parameters
    ----------
    n : int
        Cells through the thickness.
    fraction : float
        Electrolyte volume fraction.
    cross_section : float
        Cross-section in reduced units (cells of one slice times their face area).

    Returns
    -------
    float
        ``(2 n^2 + 1) / (6 n) / (fraction * cross_section)``; ``n / 3`` per unit conductance
        in the continuum limit.
    """
    return (2.0 * n * n + 1.0) / (6.0 * n) / (fraction * cross_section)


def electrode_tortuosity(
    image: np.ndarray,
    *,
    axis: int = 0,
    conductive_label: float | None = None,
    reactive_label: float | None = None,
    pixel_size: float | Sequence[float] | None = None,
    boundary: str = "insulating",
    source: str | None = None,
) -> ElectrodeResult:
    """Electrode tortuosity factor tau_e of a porous electrode (see the module docstring).

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        Binary (nonzero = electrolyte, zero = active material) or label image.
    axis : int
        Through-thickness axis; the separator lies before the first slice, the current
        collector after the last.
    conductive_label : float, optional
        Label of the electrolyte (default: every nonzero value).
    reactive_label : float, optional
        Label of the active material whose interface with the electrolyte reacts (default 0).
        Other labels are inert and insulating.
    pixel_size : float or sequence of float, optional
        Voxel edge (m), or one per axis for anisotropic voxels; only ratios matter for tau_e.
    boundary : {"insulating", "periodic"}
        Lateral faces.
    source : str, optional
        Name of the input, for error messages.

    Returns
    -------
    ElectrodeResult
    """
    data, spacing, fraction = _build(
        image,
        axis=axis,
        conductive_label=conductive_label,
        reactive_label=reactive_label,
        pixel_size=pixel_size,
        boundary=boundary,
        source=source,
        multigrid=True,
    )
    arr = np.asarray(image)
    ax = axis % arr.ndim
    sizes = tuple(spacing) if pixel_size is not None else None
    if data is None:
        return ElectrodeResult(
            tau_e=math.inf,
            electrolyte_fraction=fraction,
            interface_density=0.0,
            resistance_low_frequency=math.inf,
            resistance_ideal=math.inf,
            connected_interface=0.0,
            axis=ax,
            shape=tuple(int(n) for n in arr.shape),
            boundary=boundary,
            pixel_size=sizes,
        )
    if data.lean is not None:
        keep, stencil, area = data.lean
        psi, xr = solve_lean_source(keep, ax, area, stencil=stencil, energy_rtol=ENERGY_RTOL)
        total = float(data.d.sum())
        # d.psi + psi.r: the variational estimate, second order in the residual
        re_z0 = (float(data.d @ psi) + xr) / total**2
    else:
        psi = _spd_solve(data.A, data.d, len(data.shape))
        total = float(data.d.sum())
        re_z0 = float(data.d @ psi) / total**2
    ideal = ideal_low_frequency_resistance(data.n, data.fraction, data.cross_section)
    return ElectrodeResult(
        tau_e=re_z0 / ideal,
        electrolyte_fraction=data.fraction,
        # per volume in units of the flow axis's edge h (box-shaped voxels: each voxel is
        # prod(relative) of h^3; data.cross_section counts them so)
        interface_density=data.interface_total / (data.cross_section * data.n),
        resistance_low_frequency=re_z0,
        resistance_ideal=ideal,
        connected_interface=total / data.interface_total,
        axis=ax,
        shape=data.shape,
        boundary=boundary,
        pixel_size=sizes,
    )


def impedance(
    image: np.ndarray,
    frequencies: Sequence[float] | np.ndarray,
    *,
    axis: int = 0,
    conductive_label: float | None = None,
    reactive_label: float | None = None,
    pixel_size: float | Sequence[float] | None = None,
    boundary: str = "insulating",
    source: str | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Complex impedance Z(omega) of the electrode at reduced angular frequencies (float64).

    Parameters
    ----------
    image : ndarray
        As for :func:`electrode_tortuosity`.
    frequencies : sequence of float
        Reduced angular frequencies ``omega`` (> 0).
    axis, conductive_label, reactive_label, pixel_size, boundary, source
        As for :func:`electrode_tortuosity`.
    progress : bool
        A progress bar on stderr for the Lanczos path of large systems (a million unknowns
        or more); INFO logging reports every step.

    Returns
    -------
    ndarray of complex128
        ``Z`` per frequency in reduced units (``inf`` when nothing is connected).

    Notes
    -----
    Small systems are solved directly at every frequency. Large 3D ones get the whole
    spectrum from one Lanczos process (:func:`_impedance_lanczos`: each step one real solve
    of the solver's multigrid, the frequencies all at once, to ``LANCZOS_RTOL``); large 2D
    ones use COCG per frequency.
    """
    omega = np.asarray(frequencies, dtype=np.float64).ravel()
    if omega.size == 0 or not np.all(np.isfinite(omega)) or np.any(omega <= 0):
        raise InputError("frequencies must be positive, finite numbers")
    data, _, _ = _build(
        image,
        axis=axis,
        conductive_label=conductive_label,
        reactive_label=reactive_label,
        pixel_size=pixel_size,
        boundary=boundary,
        source=source,
        multigrid=True,
    )
    if data is None:
        return np.full(omega.shape, complex(math.inf, 0.0))
    if data.lean is not None:
        return _impedance_lanczos(data, omega, source=source, progress=progress)
    assert data.A is not None  # assembled (not laid out for the multigrid)
    from scipy.sparse.linalg import splu

    # With u = 1 - phi: (A + j w D) u = j w d (A 1 = b: only the separator coupling survives),
    # so I = sum g_in u_in = j w b.v with (A + j w D) v = d: no cancellation at low frequency.
    out = np.empty(omega.shape, dtype=np.complex128)
    direct = data.A.shape[0] <= (DIRECT_MAX_2D if len(data.shape) == 2 else DIRECT_MAX)
    A = data.A.astype(np.complex128)
    D = sp.diags(data.d.astype(np.complex128))
    rhs = data.d.astype(np.complex128)
    for k, w in enumerate(omega):
        if direct:
            v = splu((A + 1j * w * D).tocsc()).solve(rhs)
        else:
            v = _cocg_shifted(data.A, data.d, w, rhs)
        out[k] = 1.0 / (1j * w * np.dot(data.b, v))
    return out


LANCZOS_RTOL = 1e-8
""":func:`_impedance_lanczos` stops when three steps in a row changed ``Z`` by less than this
(relative, the largest over the frequencies asked for)."""
LANCZOS_MAXITER = 500


def _impedance_lanczos(
    data: _Electrode, omega: np.ndarray, *, source: str | None, progress: bool = False
) -> np.ndarray:
    """``Z(omega)`` at every frequency from one Lanczos process on the multigrid's solves.

    With ``D = diag(d)`` (interface areas) and ``A 1 = b`` (the row sums of the conduction
    operator are the separator couplings), ``b.(A + s D)^-1 d = S - s u.(I + s G)^-1 G u`` for
    ``G = D^1/2 A^-1 D^1/2``, ``u = d^1/2`` and ``S = sum d`` (Woodbury). ``G`` is symmetric
    positive semi-definite, so ``u.f(G) u`` for ``f(x) = x / (1 + s x)`` is a Stieltjes
    function whose Gauss quadrature from k Lanczos steps (``u``'s Krylov space of ``G``)
    matches 2k moments: every frequency comes from the same tridiagonal matrix, and each step
    costs one real solve with ``A`` (:func:`~ionflow.solve._lean.lean_source_solver`, the
    multigrid of :func:`electrode_tortuosity`; its first step is tau_e's solve, so ``Re Z``
    tends to tau_e's ``Re Z(0)`` exactly). No reorthogonalisation: rounding duplicates
    converged Ritz values but leaves the quadrature's accuracy (Golub and Meurant 2010).
    On a 40^3 electrode crop over the CLI's four decades: 5e-9 from the direct answers after
    60 steps, 7e-12 after 80.
    """
    from ._lean import lean_source_solver

    assert data.lean is not None
    keep, stencil, _ = data.lean
    solve = lean_source_solver(keep, data.axis, stencil=stencil)
    root = np.sqrt(data.d)
    total = float(data.d.sum())
    s = 1j * omega[:, None]

    def z_of(alpha: list[float], beta: list[float]) -> np.ndarray:
        T = (
            np.diag(alpha)
            + np.diag(beta[: len(alpha) - 1], 1)
            + np.diag(beta[: len(alpha) - 1], -1)
        )
        lam, V = np.linalg.eigh(T)
        weights = total * V[0] ** 2  # |u|^2 = sum d
        h = total - (s * (weights * lam / (1.0 + s * lam))).sum(axis=1)
        return 1.0 / (s[:, 0] * h)

    q = root / np.sqrt(total)
    q_prev = np.zeros_like(q)
    alpha: list[float] = []
    beta: list[float] = []
    z_prev = None
    calm = 0
    bar = _LanczosBar(q.shape[0], progress)
    for k in range(1, LANCZOS_MAXITER + 1):
        w = root * solve(root * q)[0]
        if beta:
            w -= beta[-1] * q_prev
        alpha.append(float(q @ w))
        w -= alpha[-1] * q
        beta.append(float(np.linalg.norm(w)))
        z = z_of(alpha, beta)
        change = np.inf if z_prev is None else float(np.max(np.abs(z / z_prev - 1.0)))
        calm = calm + 1 if change < LANCZOS_RTOL else 0
        log.info("impedance: Lanczos step %d, largest change of Z %.1e", k, change)
        bar(k, change)
        if calm >= 3 or beta[-1] <= 1e-13 * abs(alpha[0]):  # converged, or an exact subspace
            bar.close()
            return z
        z_prev = z
        q_prev, q = q, w / beta[-1]
    bar.close()
    from ..errors import IonflowError

    raise IonflowError(
        f"{source + ': ' if source else ''}the impedance's Lanczos process did not converge in "
        f"{LANCZOS_MAXITER} steps (last change {change:.1e})"
    )


class _LanczosBar:
    """A tqdm bar for :func:`_impedance_lanczos` on a million unknowns or more: the share of
    the way, in log scale, from the first step's change of Z to ``LANCZOS_RTOL``."""

    def __init__(self, unknowns: int, want: bool) -> None:
        self.bar = None
        self.first: float | None = None
        if want and unknowns >= 1_000_000:
            self.bar = percent_bar(f"impedance ({unknowns / 1e6:.1f} M unknowns)")

    def __call__(self, step: int, change: float) -> None:
        if self.bar is None or not math.isfinite(change) or change <= 0:
            return
        if self.first is None:
            self.first = max(change, 10 * LANCZOS_RTOL)
        span = math.log(self.first / LANCZOS_RTOL)
        done = min(max(math.log(self.first / change) / span, 0.0), 1.0)
        self.bar.n = round(100 * done)
        self.bar.set_postfix_str(f"step {step}, change of Z {change:.1e}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _cocg_shifted(
    A: sp.csr_matrix, d: np.ndarray, omega: float, rhs: np.ndarray, rtol: float = 1e-11
) -> np.ndarray:
    """Solve the complex symmetric (A + j omega diag(d)) v = rhs by COCG (CG with the
    unconjugated inner product), preconditioned by pyamg's smoothed aggregation of the real
    SPD shift A + omega diag(d) (a shifted-Laplacian preconditioner), applied to the real and
    imaginary parts."""
    import pyamg

    from ..errors import IonflowError

    K = (A + 1j * omega * sp.diags(d)).tocsr()
    ml = pyamg.smoothed_aggregation_solver(
        (A + omega * sp.diags(d)).tocsr(), symmetry="hermitian", max_coarse=500
    )
    M = ml.aspreconditioner(cycle="V")

    def precondition(r: np.ndarray) -> np.ndarray:
        return M @ r.real + 1j * (M @ r.imag)

    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = precondition(r)
    p = z.copy()
    rz = np.dot(r, z)
    norm_b = float(np.linalg.norm(rhs)) or 1.0
    for _ in range(5000):
        q = K @ p
        alpha = rz / np.dot(p, q)
        x += alpha * p
        r -= alpha * q
        if float(np.linalg.norm(r)) <= rtol * norm_b:
            return x
        z = precondition(r)
        rz_new = np.dot(r, z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    raise IonflowError(f"the impedance solve did not converge at omega = {omega:g}")


def ideal_impedance(
    frequencies: Sequence[float] | np.ndarray,
    n: int,
    *,
    resistance: float = 1.0,
    capacitance: float = 1.0,
) -> np.ndarray:
    """Impedance of a discrete transmission line of ``n`` cells (the homogeneous electrode).

    Parameters
    ----------
    frequencies : sequence of float
        Angular frequencies.
    n : int
        Cells through the thickness.
    resistance : float
        Ionic resistance of one cell (between neighbouring centres); the separator couples
        through half of it.
    capacitance : float
        Interface capacitance of one cell.

    Returns
    -------
    ndarray of complex128
        ``Z`` per frequency, from the blocking collector back to the separator.
    """
    omega = np.asarray(frequencies, dtype=np.float64).ravel()
    y = 1j * omega * capacitance  # last cell: its capacitor alone (the collector blocks)
    z: np.ndarray = 1.0 / y
    for _ in range(n - 1):
        z = 1.0 / (y + 1.0 / (resistance + z))
    return 0.5 * resistance + z
