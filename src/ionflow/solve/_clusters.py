"""Face-connected clusters and which electrode they touch (the solver's and the surrogate's).

Light on purpose: importing it loads neither SciPy's sparse machinery nor ``scipy.ndimage``
unless the labelling falls back to it (``ionflow predict`` starts faster).
"""

from __future__ import annotations

import numpy as np

__all__ = ["electrode_clusters", "label_face_connected"]


def label_face_connected(
    conductive: np.ndarray, periodic: tuple[int, ...] = ()
) -> tuple[np.ndarray, int]:
    """Labels (0 = not conductive, 1..count) of the face-connected clusters of a 2D/3D mask.

    connected-components-3d (``cc3d``) when installed, else ``scipy.ndimage.label``; both give
    the same partition (the numbering may differ). Along the axes in ``periodic`` the two
    opposite faces touch: clusters joined across them get one label.
    """
    conductive = np.asarray(conductive, dtype=bool)
    try:
        import cc3d
    except ImportError:  # pragma: no cover - cc3d is a declared dependency
        cc3d = None  # type: ignore[assignment]
    if cc3d is not None and conductive.ndim in (2, 3):
        labels, count = cc3d.connected_components(
            conductive, connectivity=4 if conductive.ndim == 2 else 6, return_N=True
        )
    else:
        from scipy import ndimage

        structure = ndimage.generate_binary_structure(conductive.ndim, 1)
        labels, count = ndimage.label(conductive, structure=structure)
    count = int(count)
    if periodic and count > 1:
        labels, count = _join_across(labels, count, periodic)
    return labels, count


def _join_across(
    labels: np.ndarray, count: int, periodic: tuple[int, ...]
) -> tuple[np.ndarray, int]:
    """Merge clusters that meet across periodic faces (union-find on label pairs)."""
    parent = np.arange(count + 1)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for d in periodic:
        if labels.shape[d] < 2:
            continue
        a = np.take(labels, 0, axis=d).ravel()
        b = np.take(labels, -1, axis=d).ravel()
        both = (a > 0) & (b > 0)
        pairs = np.unique(np.stack([a[both], b[both]], axis=1), axis=0)
        for x, y in pairs.tolist():
            rx, ry = root(x), root(y)
            if rx != ry:
                parent[max(rx, ry)] = min(rx, ry)
    roots = np.array([root(i) for i in range(count + 1)])
    uniq, lut = np.unique(roots, return_inverse=True)  # root 0 (background) stays 0
    return lut.astype(labels.dtype)[labels], int(uniq.size - 1)


def electrode_clusters(
    conductive: np.ndarray, axis: int, periodic: tuple[int, ...] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face-connected cluster labels and, per label, whether it touches each electrode.

    Clusters connect across the faces of the axes in ``periodic`` (never the flow axis).

    Parameters
    ----------
    conductive : ndarray of bool
        2D or 3D mask of the conducting cells.
    axis : int
        Flow axis: the electrodes are its first and last slices.
    periodic : tuple of int
        Axes whose opposite faces are joined.

    Returns
    -------
    labels : ndarray of int, shape ``conductive.shape``
        Cluster label per cell, 0 = not conductive.
    first, last : ndarray of bool, shape (n_labels + 1,)
        Indexed by label: the cluster touches the first / last slice along ``axis``.
    """
    labels, count = label_face_connected(conductive, tuple(d for d in periodic if d != axis))
    first = np.zeros(count + 1, bool)
    last = np.zeros(count + 1, bool)
    first[np.take(labels, 0, axis=axis)] = True
    last[np.take(labels, -1, axis=axis)] = True
    first[0] = last[0] = False
    return labels, first, last
