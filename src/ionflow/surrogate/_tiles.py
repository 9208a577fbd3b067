"""Images larger than the training size: predict blocks, then solve the block network.

A network trained on 64^3 volumes does not extrapolate to 256^3 (its features average over a
different number of positions, near the padding). Instead the volume is cut into blocks of the
training size; the network predicts each block's relative conductivity along every axis (the
block turned so that the axis is its flow axis), and a finite-volume solve on the coarse grid of
blocks (harmonic-mean faces, Dirichlet through half a block at the two electrodes, as in the
fine solver) combines them. This is classical numerical homogenisation: it keeps the
series/parallel arrangement of good and poor regions that an average of block values loses.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..solve._stencil import axis_weights, electrode_conductances, face_conductances

__all__ = ["block_grid", "cut_blocks", "coarse_relative_conductivity"]

DENSE_BLOCKS = 1000  # up to this many blocks the coarse system is solved densely


def block_grid(shape: Sequence[int], block: Sequence[int]) -> tuple[int, ...] | None:
    """Blocks per axis to cover ``shape`` with ``block``-sized blocks.

    Parameters
    ----------
    shape : sequence of int
        Shape of the image.
    block : sequence of int
        Shape of one block (the network's training size).

    Returns
    -------
    tuple of int or None
        Blocks per axis, or None when the image is not larger than one block (or smaller than a
        block along some axis).
    """
    if len(shape) != len(block) or any(n < b for n, b in zip(shape, block)):
        return None
    grid = tuple(-(-n // b) for n, b in zip(shape, block))
    return grid if np.prod(grid) > 1 else None


def cut_blocks(image: np.ndarray, block: Sequence[int], grid: Sequence[int]) -> np.ndarray:
    """Cut an image into the blocks of a grid.

    Parameters
    ----------
    image : ndarray
        The image.
    block : sequence of int
        Shape of one block.
    grid : sequence of int
        Blocks per axis (from :func:`block_grid`).

    Returns
    -------
    ndarray, shape (prod(grid), *block)
        The blocks in C order of the grid; where a size is not a multiple of the block,
        neighbouring blocks overlap a little (origins evenly spread from 0 to n - b).
    """
    starts = [
        np.linspace(0, n - b, g).round().astype(int) for n, b, g in zip(image.shape, block, grid)
    ]
    return np.stack(
        [
            image[tuple(slice(o, o + b) for o, b in zip(origin, block))]
            for origin in itertools.product(*starts)
        ]
    )


def coarse_relative_conductivity(sigma: np.ndarray, spacing: Sequence[float]) -> float:
    """Relative conductivity sigma_eff / sigma along axis 0 of a grid of blocks.

    Parameters
    ----------
    sigma : ndarray, shape (dim, *grid)
        Relative conductivity of every block along every axis.
    spacing : sequence of float
        The block size along each axis.

    Returns
    -------
    float
        The relative conductivity of the grid; uniform blocks of conductivity s give exactly s.
    """
    dim = sigma.shape[0]
    grid = sigma.shape[1:]
    h = np.asarray(spacing, float)
    w = axis_weights(spacing, dim)
    n = int(np.prod(grid))
    index = np.arange(n).reshape(grid)
    diag = np.zeros(n)
    rows, cols, vals = [], [], []
    for d in range(dim):
        lo = tuple(slice(None, -1) if k == d else slice(None) for k in range(dim))
        hi = tuple(slice(1, None) if k == d else slice(None) for k in range(dim))
        g = face_conductances(sigma[d], d, weight=w[d]).ravel()
        i, j = index[lo].ravel(), index[hi].ravel()
        diag += np.bincount(i, g, minlength=n) + np.bincount(j, g, minlength=n)
        rows += [i, j]
        cols += [j, i]
        vals += [-g, -g]
    inlet, outlet = index[0].ravel(), index[-1].ravel()
    g_in, g_out = (g.ravel() for g in electrode_conductances(sigma[0], 0, weight=w[0]))
    np.add.at(diag, inlet, g_in)
    np.add.at(diag, outlet, g_out)
    b = np.zeros(n)
    np.add.at(b, inlet, g_in)
    if not (g_in > 0).any() or not (g_out > 0).any():
        return 0.0
    diag = np.where(diag > 0, diag, 1.0)  # isolated blocks: a harmless identity row
    r = np.concatenate(rows + [np.arange(n)])
    c = np.concatenate(cols + [np.arange(n)])
    v = np.concatenate(vals + [diag])
    if n <= DENSE_BLOCKS:  # a few hundred blocks: a dense solve, no SciPy import at start-up
        A = np.zeros((n, n))
        np.add.at(A, (r, c), v)
        x = np.linalg.solve(A, b)
    else:
        import scipy.sparse as sp
        from scipy.sparse.linalg import spsolve

        x = spsolve(sp.csc_matrix((v, (r, c)), shape=(n, n)), b)
    current = float(np.sum(g_in * (1.0 - x[inlet])))
    length = grid[0] * h[0]
    area = float(np.prod(np.asarray(grid[1:]) * h[1:]))
    value = current * length / area
    return value if value > 1e-12 else 0.0  # a blocked grid: round-off of the dense solve
