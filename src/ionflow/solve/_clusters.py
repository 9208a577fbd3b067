"""Face-connected clusters and which electrode they touch (the solver's and the surrogate's).

Light on purpose: importing it loads neither SciPy's sparse machinery nor ``scipy.ndimage``
unless the labelling falls back to it (``ionflow predict`` starts faster).
"""

from __future__ import annotations

import numpy as np

__all__ = ["electrode_clusters", "label_face_connected"]


def label_face_connected(conductive: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels (0 = not conductive, 1..count) of the face-connected clusters of a 2D/3D mask.

    connected-components-3d (``cc3d``) when installed, else ``scipy.ndimage.label``; both give
    the same partition (the numbering may differ).
    """
    conductive = np.asarray(conductive, dtype=bool)
    try:
        import cc3d
    except ImportError:  # pragma: no cover - cc3d is a declared dependency
        cc3d = None
    if cc3d is not None and conductive.ndim in (2, 3):
        labels, count = cc3d.connected_components(
            conductive, connectivity=4 if conductive.ndim == 2 else 6, return_N=True
        )
        return labels, int(count)
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(conductive.ndim, 1)
    labels, count = ndimage.label(conductive, structure=structure)
    return labels, int(count)


def electrode_clusters(
    conductive: np.ndarray, axis: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face-connected cluster labels and, per label, whether it touches each electrode.

    Returns ``labels`` (0 = not conductive) and boolean lookup tables ``first`` and ``last``
    indexed by label: the cluster touches the first / last slice along ``axis``.
    """
    labels, count = label_face_connected(conductive)
    first = np.zeros(count + 1, bool)
    last = np.zeros(count + 1, bool)
    first[np.take(labels, 0, axis=axis)] = True
    last[np.take(labels, -1, axis=axis)] = True
    first[0] = last[0] = False
    return labels, first, last
