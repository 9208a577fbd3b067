"""Representativeness: is the sample big enough for its sigma_eff / tau (an REV study)?

``representativeness(image)`` solves cubes of increasing edge cut from the image, fits how their
spread shrinks with size and gives confidence intervals for the whole sample's value and for
the material's property. numpy only at import; the solver and tqdm load when called. The plot is
``ionflow.plot.plot_rev``.
"""

from ._result import QUANTITIES, RevEstimate, RevLevel, RevResult
from ._rev import check_levels, default_edges, representativeness

__all__ = [
    "QUANTITIES",
    "RevEstimate",
    "RevLevel",
    "RevResult",
    "check_levels",
    "default_edges",
    "representativeness",
]
