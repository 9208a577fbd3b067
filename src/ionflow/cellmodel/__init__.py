"""Microstructure parameters for cell models (PyBaMM, BPX) measured on electrode images.

``electrode_parameters(image, pixel_size=...)`` gives porosity, transport efficiency,
tortuosity factor, Bruggeman exponent, specific surface area and particle radius of one
electrode (definitions in :mod:`ionflow.cellmodel._params`); ``write_parameters`` stores them
with BPX names (SI units); ``to_pybamm`` applies them to a PyBaMM parameter set (PyBaMM is
optional: ``pip install 'ionflow[cellmodel]'``, imported only there).
"""

from ._file import FORMAT, apply_to_bpx, parameter_document, read_parameters, write_parameters
from ._params import ELECTRODES, ElectrodeParameters, electrode_parameters
from ._pybamm import discharge, pybamm_updates, to_pybamm

__all__ = [
    "ELECTRODES",
    "FORMAT",
    "ElectrodeParameters",
    "apply_to_bpx",
    "discharge",
    "electrode_parameters",
    "parameter_document",
    "pybamm_updates",
    "read_parameters",
    "to_pybamm",
    "write_parameters",
]
