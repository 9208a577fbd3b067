"""Every picture ionflow draws. Imported only by the commands that draw (matplotlib is loaded
on the first drawing, not on import)."""

from ._analysis import plot_depth_profile, plot_nyquist, plot_rev
from ._fields import plot_fields
from ._model import plot_labels_by_class, plot_parity
from ._segmentation import plot_segmentation

__all__ = [
    "plot_depth_profile",
    "plot_fields",
    "plot_labels_by_class",
    "plot_nyquist",
    "plot_parity",
    "plot_rev",
    "plot_segmentation",
]
