"""Measured microstructure parameters into PyBaMM (``pip install 'ionflow[cellmodel]'``).

PyBaMM's homogenised models (SPMe, DFN) describe the electrolyte in each electrode by its
porosity eps and transport efficiency B(eps); by default B = eps**b (Bruggeman), which is why
the file carries the exponent b = ln B / ln eps that reproduces the measured B. The same B is
reached with the model option ``{"transport efficiency": "tortuosity factor"}`` (B = eps / tau),
whose parameter is set too. A solid electrolyte is a single-ion conductor (no salt
concentration gradient); PyBaMM's liquid-electrolyte models apply B to conductivity and
diffusivity alike, so treat a solid-state cell with that in mind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from ._file import read_parameters
from ._params import ElectrodeParameters

__all__ = ["discharge", "pybamm_updates", "to_pybamm"]


def _import_pybamm():
    # PyBaMM asks on first import whether to send usage data (a 10 s prompt on stdout); ionflow
    # never opts a user in: it sets the documented opt-out unless the user chose otherwise.
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    try:
        import pybamm
    except ImportError:
        raise ImportError(
            "PyBaMM is needed for this: pip install 'ionflow[cellmodel]' (or pip install pybamm)"
        ) from None
    return pybamm


def _electrodes(params) -> list[ElectrodeParameters]:
    if isinstance(params, ElectrodeParameters):
        return [params]
    if isinstance(params, (str, os.PathLike, Mapping)):
        return list(read_parameters(params).values())
    return list(params)


def pybamm_updates(
    params: ElectrodeParameters | Iterable[ElectrodeParameters] | str | os.PathLike | Mapping,
    *,
    active_fraction: bool = True,
) -> dict[str, float]:
    """PyBaMM parameter names and values for the measured electrodes (no PyBaMM needed).

    Sets, per electrode ("Positive"/"Negative"): ``electrode porosity``, ``electrode Bruggeman
    coefficient (electrolyte)``, ``electrode tortuosity factor (electrolyte)``, ``particle
    radius [m]``, ``electrode active material volume fraction`` (unless ``active_fraction`` is
    False: it changes the electrode's capacity) and ``electrode thickness [m]`` when known.

    Parameters
    ----------
    params : ElectrodeParameters, several, a parameter file's path or its dict
        What to apply.
    active_fraction : bool
        Also set the active material volume fraction (with the radius it fixes PyBaMM's
        surface area 3 eps_am / R to the measured one).

    Returns
    -------
    dict of str -> float
    """
    out: dict[str, float] = {}
    for e in _electrodes(params):
        d = e.domain
        out[f"{d} electrode porosity"] = e.porosity
        out[f"{d} electrode Bruggeman coefficient (electrolyte)"] = e.bruggeman_exponent
        out[f"{d} electrode tortuosity factor (electrolyte)"] = e.tortuosity_factor
        out[f"{d} particle radius [m]"] = e.particle_radius
        if active_fraction:
            out[f"{d} electrode active material volume fraction"] = e.active_material_fraction
        if e.thickness is not None:
            out[f"{d} electrode thickness [m]"] = e.thickness
    return out


def to_pybamm(
    params: ElectrodeParameters | Iterable[ElectrodeParameters] | str | os.PathLike | Mapping,
    *,
    base: str | Any = "Chen2020",
    active_fraction: bool = True,
):
    """A ``pybamm.ParameterValues``: ``base`` with the measured electrodes put in.

    Parameters
    ----------
    params : ElectrodeParameters, several, a parameter file's path or its dict
        The measured electrodes.
    base : str or pybamm.ParameterValues
        A PyBaMM parameter set name (``"Chen2020"``: an NMC811 / graphite-SiOx cell) or values
        to start from (copied, not changed).
    active_fraction : bool
        See :func:`pybamm_updates`.

    Returns
    -------
    pybamm.ParameterValues
    """
    pybamm = _import_pybamm()
    values = pybamm.ParameterValues(base) if isinstance(base, str) else base.copy()
    updates = pybamm_updates(params, active_fraction=active_fraction)
    new = {k: v for k, v in updates.items() if k not in values.keys()}
    values.update({k: v for k, v in updates.items() if k not in new})
    values.update(new, check_already_exists=False)  # the tortuosity factors: not in most sets
    return values


def discharge(
    values,
    *,
    c_rate: float = 1.0,
    model: str = "SPMe",
    points: int = 100,
) -> dict[str, np.ndarray]:
    """A constant-current discharge from full charge to the lower cut-off voltage.

    Parameters
    ----------
    values : pybamm.ParameterValues
        E.g. from :func:`to_pybamm`.
    c_rate : float
        Current as a multiple of the nominal capacity per hour.
    model : {"SPM", "SPMe", "DFN"}
        PyBaMM lithium-ion model (SPM has no electrolyte: the microstructure's transport
        efficiency does not enter it).
    points : int
        Output times.

    Returns
    -------
    dict of str -> ndarray
        ``time [s]``, ``capacity [A.h]`` (discharged), ``voltage [V]``.
    """
    pybamm = _import_pybamm()
    models = {"SPM": pybamm.lithium_ion.SPM, "SPMe": pybamm.lithium_ion.SPMe}
    models["DFN"] = pybamm.lithium_ion.DFN
    if model not in models:
        raise InputError(f"model must be one of {sorted(models)}, got {model!r}")
    if not c_rate > 0:
        raise InputError(f"c_rate must be positive, got {c_rate}")
    sim = pybamm.Simulation(models[model](), parameter_values=values, C_rate=c_rate)
    t_end = 3600.0 / c_rate * 1.2  # stops at the voltage cut-off before this
    sol = sim.solve(np.linspace(0, t_end, points))
    return {
        "time [s]": sol["Time [s]"].entries,
        "capacity [A.h]": sol["Discharge capacity [A.h]"].entries,
        "voltage [V]": sol["Voltage [V]"].entries,
    }
