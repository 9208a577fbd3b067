"""TauFactor for ``parity.py``: a worker process for its solvers, and its electrode definitions
re-solved exactly in float64 (so that a difference splits into "stopping rule" and "definition").

Every TauFactor solve runs in one spawned worker process (torch imported once, CPU, torch's
default threads); a job past its time limit kills the worker and the next job starts a new one.
``pkg="head"`` means TauFactor's unreleased development head, importable as ``taufactor_head``
from the directory :func:`head_source` prepares; ``"1.2.1"`` the installed release.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

# ------------------------------------------------------------------------------------------
# jobs (run in the worker)
# ------------------------------------------------------------------------------------------


def _tf(pkg: str):
    if pkg == "head":
        import taufactor_head as mod
    else:
        import taufactor as mod
    return mod


def _field_deff(s) -> float:
    """D_eff from a ``Solver``'s field: the flux through every x-face between conducting cells.

    ``Solver.vertical_flux`` drops the faces of cells whose neighbour weight sum exceeds 8 (its
    test for "insulating", where the weight is inf); ``AnisotropicSolver`` weights lateral
    neighbours by ``(dx/dy)^2``, so with a flow-axis edge over ~1.2x the lateral ones every
    well-connected cell passes 8 and its D_eff is wrong although the field is right.
    """
    import torch

    f = s.field[0].double()
    ok = torch.isfinite(s.factor[0])
    d = (f[2:-1, 1:-1, 1:-1] - f[1:-2, 1:-1, 1:-1]) * (ok[:-1] & ok[1:])
    return float(d.sum((1, 2)).mean()) * s.Nx / (s.Ny * s.Nz)


def _state(s, value) -> dict:
    return {"value": float(value), "iter": int(s.iter), "converged": bool(s.converged)}


def job_through(pkg, cls, img, kwargs, iter_limit=10000, conv_crit=1e-2):
    s = getattr(_tf(pkg), cls)(img, device="cpu", **kwargs)
    s.solve(verbose=False, iter_limit=iter_limit, conv_crit=conv_crit)
    out = _state(s, np.ravel(s.D_eff)[0])
    if cls == "AnisotropicSolver":
        out["field_value"] = _field_deff(s)
    return out


def job_multiphase(pkg, img, cond, iter_limit=10000):
    mod = _tf(pkg)
    if pkg == "head":
        s = mod.MultiPhaseSolver(img, diffusivities=cond, device="cpu")
    else:
        s = mod.MultiPhaseSolver(img, cond=cond, device="cpu")
    s.solve(verbose=False, iter_limit=iter_limit)
    return _state(s, np.ravel(s.D_eff)[0])


def job_electrode_head(periodic, img, iter_limit=10000):
    mod = _tf("head")
    cls = mod.PeriodicElectrodeSolver if periodic else mod.ElectrodeSolver
    s = cls(img, conductive_label=1, reactive_label=0, device="cpu")
    s.solve(verbose=False, iter_limit=iter_limit)
    return _state(s, np.ravel(s.tau)[0])


def job_electrode_121(img, iter_limit=20000):
    s = _tf("1.2.1").ElectrodeSolver(img, device="cpu")
    s.solve(verbose=False, iter_limit=iter_limit)
    value = float(s.tau_e) if float(s.tau_e) != 0 else float(s.tau_es[-1])
    return {"value": value, "iter": int(s.iter), "converged": bool(s.converged)}


def job_impedance_head(img, iter_limit=10000):
    s = _tf("head").ImpedanceSolver(img, mode="nyquist", device="cpu")
    s.solve(verbose=False, iter_limit=iter_limit)
    return {
        "frequency": np.asarray(s.frequency, dtype=float),
        "impedance": np.asarray(s.impedance, dtype=complex),
        "z_mean": np.asarray(s.Z_mean, dtype=complex),
        "freq_0": float(s.freq_0),
        "converged_freq": np.array([bool(c) for c in s.converged_freq]),
        "iter": int(s.sum_iter),
        "converged": bool(all(s.converged_freq)),
    }


JOBS = {
    f.__name__: f
    for f in (
        job_through,
        job_multiphase,
        job_electrode_head,
        job_electrode_121,
        job_impedance_head,
    )
}


@contextlib.contextmanager
def _warnings_to(buf):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        buf.write(f"{w.category.__name__}: {w.message}\n")


def _serve(conn, head_parent: str | None) -> None:
    if head_parent:
        sys.path.insert(0, head_parent)
    import torch  # noqa: F401  (once, before any timing)

    while True:
        job = conn.recv()
        if job is None:
            return
        name, args, kwargs = job
        buf = io.StringIO()
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(buf), _warnings_to(buf):
                out = JOBS[name](*args, **kwargs)
            out["seconds"] = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - reported in the table
            out = {"error": f"{type(exc).__name__}: {str(exc)[:160]}"}
        out["printed"] = " | ".join(x.strip() for x in buf.getvalue().splitlines() if x.strip())
        conn.send(out)


class Worker:
    """The TauFactor process; ``run`` returns the job's dict or ``{"error": ...}``."""

    def __init__(self, head_parent: str | None) -> None:
        self.head_parent = head_parent
        self.proc = None
        self.conn = None

    def run(self, name: str, *args, timeout: float = 300.0, **kwargs) -> dict:
        if self.proc is None or not self.proc.is_alive():
            ctx = mp.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_serve, args=(child, self.head_parent), daemon=True)
            self.proc.start()
        self.conn.send((name, args, kwargs))
        if self.conn.poll(timeout):
            return self.conn.recv()
        self.proc.kill()  # our own child, by its handle
        self.proc.join()
        self.proc = None
        return {"error": f"timeout (> {timeout:.0f} s)"}

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(10)


def head_source(spec: str) -> tuple[str | None, str]:
    """A temporary directory holding ``taufactor_head/`` and a description, or (None, why not).

    ``spec`` is a TauFactor source tree (with ``taufactor/__init__.py``), a git repository of
    tldr-group/taufactor (its HEAD is exported), or ``"none"``.
    """
    if spec == "none":
        return None, "not run (--taufactor-head none)"
    src = Path(spec)
    tmp = Path(tempfile.mkdtemp(prefix="tfhead-"))

    def git(*a: str, text: bool = True):
        return subprocess.run(
            ["git", "-C", str(src), *a], check=True, capture_output=True, text=text
        ).stdout

    try:
        if (src / "taufactor" / "__init__.py").exists():
            shutil.copytree(src / "taufactor", tmp / "taufactor_head")
            desc = f"source tree {src}"
        else:
            commit, date = git("rev-parse", "HEAD").strip(), git("log", "-1", "--format=%cs")
            tar = git("archive", "HEAD", "taufactor", text=False)
            subprocess.run(["tar", "-x", "-C", str(tmp)], input=tar, check=True)
            (tmp / "taufactor").rename(tmp / "taufactor_head")
            desc = f"tldr-group/taufactor git {commit[:7]} ({date.strip()}, unreleased)"
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        return None, f"not run ({spec}: {exc})"
    return str(tmp), desc


# ------------------------------------------------------------------------------------------
# electrode definitions, solved exactly (float64, AMG-CG to 1e-12)
# ------------------------------------------------------------------------------------------


def _count(other: np.ndarray, periodic: bool) -> np.ndarray:
    """Face neighbours of every cell that are in ``other`` (an image face is not)."""
    o = other.astype(float)
    n = np.zeros(o.shape)
    for d in range(3):
        if d > 0 and periodic:
            n += np.roll(o, 1, axis=d) + np.roll(o, -1, axis=d)
        else:
            p = np.pad(o, [(1, 1) if k == d else (0, 0) for k in range(3)])
            n += np.take(p, range(0, o.shape[d]), axis=d) + np.take(p, range(2, o.shape[d] + 2), d)
    return n


def _connected_to_inlet(mask: np.ndarray, periodic: bool) -> np.ndarray:
    """Cells of ``mask`` joined to its first slice (clusters joined across wrapped faces)."""
    lab, count = ndimage.label(mask)
    if periodic:
        parent = np.arange(count + 1)

        def root(x: int) -> int:
            while parent[x] != x:
                x = parent[x]
            return x

        for d in (1, 2):
            first = np.take(lab, 0, axis=d).ravel()
            last = np.take(lab, -1, axis=d).ravel()
            ok = (first > 0) & (last > 0)
            for u, v in set(zip(first[ok].tolist(), last[ok].tolist())):
                ru, rv = root(u), root(v)
                if ru != rv:
                    parent[ru] = rv
        lab = np.array([root(x) for x in range(count + 1)])[lab]
    seeds = np.unique(lab[0][lab[0] > 0])
    return np.isin(lab, seeds) & mask


def _system(keep: np.ndarray, periodic: bool, inlet_g: float):
    """Unit-link Laplacian on ``keep`` plus a link ``inlet_g`` from the first slice to phi = 1."""
    idx = np.arange(keep.size).reshape(keep.shape)
    ii, jj = [], []
    for d in range(3):
        if d > 0 and periodic:
            a, b, ma, mb = idx, np.roll(idx, -1, d), keep, np.roll(keep, -1, d)
        else:
            n = keep.shape[d]
            a, b = np.take(idx, range(n - 1), d), np.take(idx, range(1, n), d)
            ma, mb = np.take(keep, range(n - 1), d), np.take(keep, range(1, n), d)
        ii.append(a[ma & mb])
        jj.append(b[ma & mb])
    cells = np.flatnonzero(keep.ravel())
    pos = np.full(keep.size, -1, dtype=np.int64)
    pos[cells] = np.arange(cells.size)
    i, j = pos[np.concatenate(ii)], pos[np.concatenate(jj)]
    m = cells.size
    diag = (np.bincount(i, minlength=m) + np.bincount(j, minlength=m)).astype(float)
    inlet = pos[np.flatnonzero(keep[0].ravel())]  # the first slice's flat indices come first
    b = np.zeros(m)
    b[inlet] = inlet_g
    diag[inlet] += inlet_g
    off = sp.coo_matrix((-np.ones(2 * i.size), (np.r_[i, j], np.r_[j, i])), shape=(m, m))
    return (off + sp.diags(diag)).tocsr(), b, cells


def _spd(A: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    import pyamg
    from scipy.sparse.linalg import cg

    ml = pyamg.smoothed_aggregation_solver(A, symmetry="hermitian", max_coarse=500)
    x, info = cg(A, rhs, rtol=1e-12, maxiter=3000, M=ml.aspreconditioner())
    if info:
        raise RuntimeError(f"reference solve did not converge ({info})")
    return x


def low_frequency_tau_e(
    pore: np.ndarray,
    reactive: np.ndarray,
    *,
    periodic: bool = False,
    walls_react: bool = False,
    inlet_g: float = 2.0,
    face_resistance: float = 0.0,
    norm: str = "ionflow",
) -> float:
    """tau_e from the exact low-frequency limit, with switchable conventions.

    ``Re Z(0) = (d . psi) / (sum d)^2`` with ``A psi = d`` (``A``: unit links between electrolyte
    neighbours connected to the separator and a link ``inlet_g`` to it, 2 = a Dirichlet face half
    a voxel out, 1 = one voxel out; ``d``: double-layer faces per cell: neighbours in
    ``reactive``, plus the lateral and collector image faces with ``walls_react``), plus
    ``face_resistance / sum d`` for a resistor in series with every (equal) double layer.
    ``norm="ionflow"``: divided by the discrete homogeneous line ``(2 n^2 + 1) / (6 n) / (eps A)``
    (ionflow's definition with the defaults); ``norm="1.2.1"``: TauFactor 1.2.1's
    ``eps * 3 Re Z(0) * A / (n + 2)`` (it divides by its padded length).
    """
    keep = _connected_to_inlet(pore, periodic)
    A, _, cells = _system(keep, periodic, inlet_g)
    d = _count(reactive, periodic)
    if walls_react:
        d[-1] += 1.0
        for ax in (1, 2):
            for end in (0, -1):
                sl = [slice(None)] * 3
                sl[ax] = end
                d[tuple(sl)] += 1.0
    d = d.ravel()[cells]
    total = float(d.sum())
    re_z0 = float(d @ _spd(A, d)) / total**2 + face_resistance / total
    n, cross, eps = pore.shape[0], pore.shape[1] * pore.shape[2], float(pore.mean())
    if norm == "1.2.1":
        return eps * 3.0 * re_z0 * cross / (n + 2)
    return re_z0 / ((2.0 * n * n + 1.0) / (6.0 * n) / (eps * cross))


def tf121_definition(pore: np.ndarray) -> float:
    """TauFactor 1.2.1 ``ElectrodeSolver``'s tau_e at omega -> 0 (read from its source).

    Every face of an electrolyte cell that is neither an electrolyte neighbour nor the
    separator is a double layer (solid voxels, lateral image faces, the collector face), behind
    a resistance 1/2 (its prefactor ``2 S (w^2 + j w) / (w^2 + 1)``); the separator is a ghost
    at phi = 1 one voxel out; and ``tau_e = eps * 3 Re Z * Ny Nz / phi.shape[1]`` with the padded
    length ``Nx + 2``.
    """
    return low_frequency_tau_e(
        pore, ~pore, walls_react=True, inlet_g=1.0, face_resistance=0.5, norm="1.2.1"
    )


def tlm(R: np.ndarray, C: np.ndarray, freq: float) -> complex:
    """TauFactor's ``compute_impedance``: Z = R_k + 1 / (j w C_k + 1 / Z), collector first."""
    z = 1e50 + 0j
    for r, c in zip(R[::-1], C[::-1]):
        z = r + 1.0 / (1j * freq * c + 1.0 / z)
    return complex(z)


def slice_stats(pore: np.ndarray, solid: np.ndarray, periodic: bool = False):
    """TauFactor's eps(x), a(x) (reactive faces of electrolyte cells per cross-section cell)
    and ``freq_0 = mean(eps) / mean(a) / Nx^2``."""
    reac = _count(solid, periodic) * pore
    vol_x = pore.mean(axis=(1, 2))
    a_x = reac.sum(axis=(1, 2)) / (pore.shape[1] * pore.shape[2])
    return vol_x, a_x, vol_x.mean() / a_x.mean() / pore.shape[0] ** 2, reac


def head_definition(labels: np.ndarray, periodic: bool) -> float:
    """TauFactor head ``(Periodic)ElectrodeSolver``'s tau_e with its steady field solved exactly.

    Its definition (head source): a steady potential, separator half a voxel out (phi = 1),
    unit links, and on every electrolyte/active face a reaction to phi = 0 with rate
    ``k0 = mean(eps) / mean(a) / Nx^2``; slice means give tau(x) per face and a one-dimensional
    transmission line ``R = tau(x) / eps(x)``, ``C = a(x)`` (first resistor a whole voxel),
    evaluated at ``f = k0 / 8`` against the same line with the mean eps and a:
    ``tau_e = Re Z / Re Z_ideal``. TauFactor solves the field in float32 by SOR.
    """
    pore, solid = labels == 1, labels == 0
    vol_x, a_x, k0, reac = slice_stats(pore, solid, periodic)
    keep = _connected_to_inlet(pore, periodic)
    A, b, cells = _system(keep, periodic, 2.0)
    phi = np.zeros(pore.size)
    phi[cells] = _spd((A + sp.diags(k0 * reac.ravel()[cells])).tocsr(), b)
    phi = phi.reshape(pore.shape)
    ny, nz = pore.shape[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        c_x = np.where(vol_x > 0, phi.mean(axis=(1, 2)) / vol_x, 0.0)
        up = np.concatenate([np.full((1, ny, nz), 2.0), phi[:-1]])
        flux = up - phi
        flux[0] = (1.0 - phi[0]) / 0.5
        flux[phi == 0] = 0
        flux[1:][phi[:-1] == 0] = 0
        flux = flux.mean(axis=(1, 2))
        f1d = np.concatenate([2 * (1 - c_x[:1]), c_x[:-1] - c_x[1:]])
        f1d[1:][vol_x[1:] == 0] = 0
        f1d[1:][vol_x[:-1] == 0] = 0
        eps = np.concatenate([vol_x[:1], 0.5 * (vol_x[:-1] + vol_x[1:])])
        tau_x = np.where(flux != 0, eps * f1d / flux, np.nan)
        R = np.where((eps == 0) | np.isnan(tau_x), 1e30, tau_x / eps)
    freq = eps.mean() / a_x.mean() / pore.shape[0] ** 2 / 8
    z = tlm(R, a_x, freq)
    z_ideal = tlm(np.full(R.size, 1 / eps.mean()), np.full(R.size, a_x.mean()), freq)
    return z.real / z_ideal.real
