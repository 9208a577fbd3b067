"""Exact bounds on a binary image's relative conductivity, from the image alone.

With the flow along axis 0, Dirichlet planes on the image's two faces (simulate's default
"face" electrodes) and unit face conductances (cubic cells, the electrolyte conducting and the
rest insulating), Rayleigh's monotonicity principle gives, in O(cells):

* **lower**: keep only the straight electrolyte lines from face to face (removing conductors
  lowers the conductance): the share of such lines in the cross-section;
* **upper**: make every slice across the flow a perfect conductor (adding conductance raises
  it): the slices in series, joined by the faces where both neighbours are electrolyte, each
  end half a cell from its electrode: ``n / (A R)`` with ``R = 1 / (2 c_0) + sum_i 1 / m_i +
  1 / (2 c_(n-1))`` (``c``: electrolyte cells of the end slices, ``m_i``: faces between slices
  i and i + 1 with electrolyte on both sides, ``A``: cells per slice).

The surrogate's prediction must lie between them; one that does not (a network that cannot
see a one-cell pinhole in a wall, say) is clipped to them and flagged out of distribution.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conduction_bounds"]


def conduction_bounds(conducting: np.ndarray) -> tuple[float, float]:
    """``(lower, upper)`` bounds on the relative conductivity along axis 0 of a binary image
    (2D or 3D; True conducts), in simulate's convention (face electrodes, cubic cells).

    Parameters
    ----------
    conducting : ndarray of bool
        The electrolyte, flow along axis 0.

    Returns
    -------
    tuple of float
        ``0 <= lower <= upper <= 1``; both 0 when some slice pair shares no electrolyte face.
    """
    c = np.asarray(conducting, dtype=bool)
    n = c.shape[0]
    flat = c.reshape(n, -1)
    area = flat.shape[1]
    lower = float(flat.all(axis=0).sum()) / area
    ends = (int(flat[0].sum()), int(flat[-1].sum()))
    links = np.count_nonzero(flat[:-1] & flat[1:], axis=1) if n > 1 else np.zeros(0)
    if min(ends) == 0 or (links.size and links.min() == 0):
        return 0.0, 0.0
    resistance = 0.5 / ends[0] + 0.5 / ends[1] + float(np.sum(1.0 / links))
    upper = min(1.0, n / (area * resistance))
    return lower, max(upper, lower)
