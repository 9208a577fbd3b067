"""The multigrid solver on PyTorch tensors: the GPU backend (``simulate(..., device="cuda")``).

Same equations, stencil, hierarchy and stopping rule as the lean CPU solver (``_lean.py``):
aggregation on 2x2x2 blocks with Galerkin coarse operators (graph Laplacians of the blocks,
formed by summing face weights), Notay's K-cycle, and the FCG loop of :func:`._lean.fcg`. Laid
out for a GPU rather than for memory:

* full-grid tensors (an insulating or removed cell has a zero diagonal and stays 0), so every
  operation is a whole-array expression;
* every axis is held as ``n`` face weights, the last one joining the last cell to the first
  (0 unless the axis is periodic), so the operator is ``D v - sum_d (w_d roll(v, -1) +
  roll(w_d v, 1))`` on every level;
* red-black Gauss-Seidel smoothing (forward: red then black; backward: black then red);
* float64 potential, residual and Krylov vectors, a float32 preconditioner, and a float64
  Cholesky factorisation on the coarsest level.

torch is imported only here, and only when this backend is asked for. On a CPU it gives the same
answers (that is how the tests run it); the numba solver is faster there.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from typing import Any

import numpy as np

from ..errors import IonflowError
from ._multigrid import MultigridSolution
from ._stencil import DEFAULT, Stencil

__all__ = ["cuda_available", "resolve_device", "solve_torch"]


@functools.cache
def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device (torch is imported only on a machine
    with an NVIDIA driver, so that ``device="auto"`` costs nothing elsewhere)."""
    if not (os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi")):
        return False
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str, ndim: int) -> str:
    """ "cpu" (the numba solver) or a torch CUDA device for ``device`` in {"auto", "cpu",
    "cuda", "cuda:N"}; raises InputError for anything else or a missing GPU."""
    from ..errors import InputError

    if device == "cpu":
        return "cpu"
    if device == "auto":
        return "cuda" if ndim == 3 and cuda_available() else "cpu"
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not cuda_available():
            raise InputError(
                f"device {device!r}: no CUDA GPU visible to PyTorch (use --device cpu or auto)"
            )
        return device
    raise InputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")


def _roll(t: Any, shift: int, d: int) -> Any:
    import torch

    return torch.roll(t, shift, dims=d) if t.shape[d] > 1 else t


class _Level:
    """Face weights ``w[d]`` (n_d entries along d, last = wrap), electrode couplings and the
    diagonal of one level, in one dtype."""

    def __init__(self, w: list[Any], g_in: Any, g_out: Any) -> None:
        self.w = w
        self.g_in, self.g_out = g_in, g_out
        D = g_in.new_zeros(w[0].shape)
        for d in range(3):
            D += w[d] + _roll(w[d], 1, d)
        D[0] += g_in
        D[-1] += g_out
        self.D = D
        self.active = D > 0
        self.invD = (1.0 / D).where(self.active, D.new_zeros(()))
        i, j, k = (np.arange(n) for n in D.shape)
        parity = (i[:, None, None] + j[None, :, None] + k[None, None, :]) % 2 == 0
        import torch

        red = torch.as_tensor(parity, device=D.device)
        self.colours = (red & self.active, ~red & self.active)

    def neighbours(self, v: Any) -> Any:
        """sum over faces of w * v[neighbour]."""
        out = v.new_zeros(v.shape)
        for d in range(3):
            if v.shape[d] > 1:
                out += self.w[d] * _roll(v, -1, d) + _roll(self.w[d] * v, 1, d)
        return out

    def apply(self, v: Any) -> Any:
        return self.D * v - self.neighbours(v)

    def face_flux(self, v: Any) -> Any:
        """sum over faces of w * (v[neighbour] - v): ``-A v`` less the electrode terms, from
        differences (no cancellation of the small fluxes of a weakly conducting phase)."""
        out = v.new_zeros(v.shape)
        for d in range(3):
            if v.shape[d] > 1:
                flux = self.w[d] * (_roll(v, -1, d) - v)
                out += flux - _roll(flux, 1, d)
        return out

    def coarsen(self) -> _Level:
        """The Galerkin level of 2x2x2 blocks (1 along an axis of length 1)."""
        import torch.nn.functional as F

        shape = self.D.shape
        f = [2 if n > 1 else 1 for n in shape]
        w = []
        for d in range(3):
            t = self.w[d]
            if shape[d] % f[d]:  # odd: pad, keeping the wrap face last
                pad_shape = list(t.shape)
                pad_shape[d] = 1
                t = _cat_last(t, t.new_zeros(pad_shape), d)
            # faces leaving block I along d: fine face index 2I + 1 (f = 2) or I (f = 1)
            sl = [slice(None)] * 3
            sl[d] = slice(f[d] - 1, None, f[d])
            t = t[tuple(sl)]
            ff = list(f)
            ff[d] = 1
            w.append(_blocksum(t, ff, F))
        g_in = _blocksum(self.g_in[None], [1, f[1], f[2]], F)[0]
        g_out = _blocksum(self.g_out[None], [1, f[1], f[2]], F)[0]
        return _Level(w, g_in, g_out)


def _cat_last(t: Any, pad: Any, d: int) -> Any:
    """Append ``pad`` along d but keep the wrap face (the last entry) last."""
    import torch

    n = t.shape[d]
    head = t.narrow(d, 0, n - 1)
    last = t.narrow(d, n - 1, 1)
    return torch.cat([head, pad, last], dim=d)


def _blocksum(t: Any, f: list[int], F: Any) -> Any:
    """Sum over blocks of size f (zero-padded to a multiple)."""
    pads = []
    for d in (2, 1, 0):
        pads += [0, (-t.shape[d]) % f[d]]
    if any(pads):
        t = F.pad(t, pads)
    n0, n1, n2 = t.shape
    return t.reshape(n0 // f[0], f[0], n1 // f[1], f[1], n2 // f[2], f[2]).sum(dim=(1, 3, 5))


class TorchMultigrid:
    """K-cycle aggregation multigrid on full-grid tensors (float32)."""

    def __init__(self, fine: _Level, *, max_coarse: int = 1500, ktol: float = 0.25) -> None:
        import torch

        self.ktol = ktol
        L = _Level([w.float() for w in fine.w], fine.g_in.float(), fine.g_out.float())
        self.levels = [L]
        while int(L.active.sum()) > max_coarse and max(L.D.shape) > 1:
            L = L.coarsen()
            self.levels.append(L)
        # the coarsest level: dense float64 Cholesky on its active cells
        C = self.levels[-1]
        act = C.active.cpu().numpy()
        pos = np.full(act.shape, -1)
        pos[act] = np.arange(int(act.sum()))
        A = np.diag(C.D.double().cpu().numpy()[act])
        for d in range(3):
            if act.shape[d] < 2:
                continue
            w = C.w[d].double().cpu().numpy()
            nb = np.roll(pos, -1, axis=d)
            ok = (pos >= 0) & (nb >= 0) & (w > 0)
            a, b = pos[ok], nb[ok]
            np.add.at(A, (a, b), -w[ok])
            np.add.at(A, (b, a), -w[ok])
        self._act = C.active
        self._chol = torch.linalg.cholesky(torch.as_tensor(A, device=C.D.device))

        self.clusters: tuple[Any, Any] | None = None

    def cluster_setup(self, strong: np.ndarray, periodic: tuple[int, ...], fine: _Level) -> None:
        """The lean solver's cluster correction (:meth:`._lean.LeanMultigrid.cluster_setup`):
        ``strong`` marks the well-conducting cells (full grid, flow axis first); each of their
        face-connected clusters gets a coarse unknown when there are two or more."""
        import torch

        from ._clusters import label_face_connected

        labels, count = label_face_connected(strong, periodic)
        if count < 2:
            return
        comp = torch.as_tensor(labels.astype(np.int64), device=fine.D.device)
        ones = (comp > 0).double()
        coupling = torch.zeros(count + 1, dtype=torch.float64, device=comp.device)
        coupling.index_add_(0, comp.ravel(), fine.apply(ones).ravel())  # 1_c . A 1_c
        inv = torch.where(coupling > 0, 1.0 / coupling, coupling.new_zeros(()))
        inv[0] = 0.0  # weak cells: no correction
        self.clusters = (comp, inv)

    def __call__(self, r: Any) -> Any:
        if self.clusters is None:
            return self._cycle(0, r.float()).double()
        comp, inv = self.clusters
        sums = inv.new_zeros(inv.shape).index_add_(0, comp.ravel(), r.ravel())
        z = (sums * inv)[comp].float()
        return self._cycle(0, r.float(), z).double()

    def _smooth(self, L: _Level, z: Any, r: Any, forward: bool) -> None:
        for c in L.colours if forward else L.colours[::-1]:
            z.copy_(torch_where(c, (r + L.neighbours(z)) * L.invD, z))

    def _cycle(self, l: int, r: Any, z: Any = None) -> Any:
        """One V-cycle (K-cycles below) from ``z`` (zero when None)."""
        import torch

        L = self.levels[l]
        if l == len(self.levels) - 1:
            z = torch.zeros_like(r)
            b = r[self._act].double()
            z[self._act] = torch.cholesky_solve(b[:, None], self._chol)[:, 0].to(r.dtype)
            return z
        if z is None:
            z = torch.zeros_like(r)
        self._smooth(L, z, r, True)
        t = r - L.apply(z)
        f = [2 if n > 1 else 1 for n in t.shape]
        import torch.nn.functional as F

        rc = _blocksum(t, f, F)
        ec = self._cycle(l + 1, rc) if l + 1 == len(self.levels) - 1 else self._kcycle(l + 1, rc)
        for d in range(3):
            if f[d] > 1:
                ec = ec.repeat_interleave(2, dim=d)
        z += ec[: t.shape[0], : t.shape[1], : t.shape[2]] * L.active
        self._smooth(L, z, r, False)
        return z

    def _kcycle(self, l: int, r: Any) -> Any:
        L = self.levels[l]
        c = self._cycle(l, r)
        v = L.apply(c)
        rho1 = float((c * v).sum(dtype=_f64()))
        alpha1 = float((c * r).sum(dtype=_f64()))
        if rho1 <= 0:
            return c
        r2 = r - (alpha1 / rho1) * v
        if float(r2.norm()) <= self.ktol * float(r.norm()):
            return c * (alpha1 / rho1)
        d = self._cycle(l, r2)
        w = L.apply(d)
        gamma = float((d * v).sum(dtype=_f64()))
        beta = float((d * w).sum(dtype=_f64()))
        alpha2 = float((d * r2).sum(dtype=_f64()))
        rho2 = beta - gamma * gamma / rho1
        if rho2 <= 1e-12 * beta:
            return c * (alpha1 / rho1)
        return c * (alpha1 / rho1 - gamma * alpha2 / (rho1 * rho2)) + d * (alpha2 / rho2)


def _f64() -> Any:
    import torch

    return torch.float64


def torch_where(c: Any, a: Any, b: Any) -> Any:
    import torch

    return torch.where(c, a, b)


class _TorchOps:
    """Vectors and operations of :func:`._lean.fcg` on float64 tensors."""

    def __init__(self, fine: _Level, M: TorchMultigrid, x: Any) -> None:
        self.fine, self.M, self.x = fine, M, x
        self.r = x.new_zeros(x.shape)
        self.p = x.new_zeros(x.shape)
        self.q = x.new_zeros(x.shape)
        self.z = x.new_zeros(x.shape)
        self.c0 = float(fine.g_in.sum())

    def exact(self) -> tuple[float, float, float]:
        fine, x = self.fine, self.x
        r = fine.face_flux(x)  # b - A x, from potential differences (see _lean)
        r[0] += fine.g_in * (1.0 - x[0])
        r[-1] -= fine.g_out * x[-1]
        self.r.copy_(r)
        rx = float((self.r * x).sum())
        rs = float(self.r.sum())
        i_in, i_out = self.currents()
        return i_out + rs - rx, i_in, i_out  # I_var summed on the outlet side (see _lean)

    def currents(self) -> tuple[float, float]:
        fine, x = self.fine, self.x
        return float((fine.g_in * (1.0 - x[0])).sum()), float((fine.g_out * x[-1]).sum())

    def balance(self) -> tuple[float, float, float]:
        """Shift each plane's potential so that every plane carries the same current
        (:func:`._lean.plane_correction`); then the exact residual and currents."""
        import torch

        from ._lean import plane_correction

        fine, x = self.fine, self.x
        w0 = fine.w[0][:-1]  # faces from plane p to p + 1
        F = (w0 * (x[:-1] - x[1:])).sum((1, 2)).cpu().numpy()
        G = w0.sum((1, 2)).cpu().numpy()
        e_out = float(fine.g_out.sum())
        c = plane_correction(*self.currents(), F, G, self.c0, e_out)
        shift = torch.as_tensor(c, dtype=x.dtype, device=x.device)[:, None, None]
        x.add_(shift * fine.active)
        return self.exact()

    def apply(self, v: Any, out: Any) -> float:
        out.copy_(self.fine.apply(v))
        return float((v * out).sum())

    def precondition(self, r: Any, out: Any) -> None:
        out.copy_(self.M(r))

    def dot(self, a: Any, b: Any) -> float:
        return float((a * b).sum())

    def dot2(self, a: Any, b: Any, c: Any) -> tuple[float, float]:
        return self.dot(a, b), self.dot(a, c)

    def update(self, alpha: float, p: Any, q: Any) -> float:
        self.x.add_(p, alpha=alpha)
        self.r.add_(q, alpha=-alpha)
        return self.dot(self.r, self.r)

    def new_direction(self, z: Any, beta: float, p: Any) -> None:
        p.mul_(beta).add_(z)


def solve_torch(
    keep: np.ndarray,
    axis: int,
    *,
    sigma: np.ndarray | None = None,
    rtol: float = 1e-9,
    balance_tol: float = 1e-6,
    maxiter: int = 500,
    give_up_after: int | None = None,
    return_x: bool = False,
    stencil: Stencil = DEFAULT,
    progress: bool = False,
    device: str = "cuda",
) -> MultigridSolution:
    """Solve the conduction system on ``keep`` with torch tensors on ``device``.

    Same parameters and result as :func:`ionflow.solve._lean.solve_lean`.
    """
    try:
        import torch
    except ImportError:
        raise IonflowError(
            "the GPU solver needs PyTorch (pip install 'ionflow[ml]' or a CUDA build of torch)"
        ) from None
    from ._lean import fcg, flow_geometry, from_view, to_view

    periodic, wts, ge = flow_geometry(keep.ndim, axis, stencil)
    s = to_view(sigma * keep if sigma is not None else keep, axis)
    dev = torch.device(device)
    s_t = torch.as_tensor(np.ascontiguousarray(s, dtype=np.float64), device=dev)
    w = []
    for d in range(3):
        nxt = _roll(s_t, -1, d)
        hm = torch.where(s_t + nxt > 0, 2.0 * s_t * nxt / (s_t + nxt), s_t.new_zeros(()))
        if not periodic[d] or s_t.shape[d] == 1:  # no wrap face
            hm.narrow(d, s_t.shape[d] - 1, 1).zero_()
        w.append(hm * wts[d])
    fine = _Level(w, ge * s_t[0], ge * s_t[-1])
    del s_t
    M = TorchMultigrid(fine)
    if sigma is not None and len(M.levels) > 1:
        from ._lean import WEAK_CONTRAST

        top = float(s.max())
        if np.any((s > 0) & (s <= WEAK_CONTRAST * top)):
            lateral = tuple(d for d in (1, 2) if periodic[d] and s.shape[d] > 1)
            M.cluster_setup(s > WEAK_CONTRAST * top, lateral, fine)
    n0 = fine.D.shape[0]
    ramp = torch.linspace(0.5 / n0, 1 - 0.5 / n0, n0, dtype=torch.float64, device=dev)
    x = (1.0 - ramp)[:, None, None] * fine.active
    ops = _TorchOps(fine, M, x)
    n = int(fine.active.sum())
    it, current, i_in, i_out, accuracy = fcg(
        ops,
        n,
        rtol=rtol,
        balance_tol=balance_tol,
        maxiter=maxiter,
        give_up_after=give_up_after,
        progress=progress,
        reliable_every=10**9,  # float64 Krylov vectors: the recurrence stays exact enough
    )
    x_orig = from_view(x.cpu().numpy(), keep, axis) if return_x else None
    return MultigridSolution(x_orig, current, i_in, i_out, it, accuracy)
