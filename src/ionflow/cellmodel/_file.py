"""The parameter file: BPX names and SI units, one section per electrode.

Layout (JSON)::

    {
      "Header": {"Title": ..., "Description": ..., "Model": "Partial", "Format": FORMAT},
      "Parameterisation": {
        "Positive electrode": {"Porosity": 0.45, "Transport efficiency": 0.217,
                               "Surface area per unit volume [m-1]": ..., "Particle radius [m]": ...,
                               "Thickness [m]": ...}          # thickness only when known
      },
      "User-defined": {                                        # numbers only, PyBaMM's names
        "Positive electrode tortuosity factor (electrolyte)": 2.08,
        "Positive electrode Bruggeman coefficient (electrolyte)": 1.92,
        "Positive electrode active material volume fraction": 0.40,
        "Positive electrode electrolyte-contact surface area per unit volume [m-1]": ...
      },
      "ionflow": {"Positive electrode": {provenance, REV interval}}
    }

"Parameterisation" and "User-defined" use the Battery Parameter eXchange (BPX) names; the file
is a *partial* parameter set (no OCP, kinetics, electrolyte...): merge it into a full BPX file
with :func:`apply_to_bpx`, or apply it to a PyBaMM parameter set with
:func:`ionflow.cellmodel.to_pybamm`. Reading takes the values from those two sections (a hand
edit there counts) and the provenance from "ionflow".
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from ._params import ELECTRODES, ElectrodeParameters

__all__ = ["FORMAT", "apply_to_bpx", "parameter_document", "read_parameters", "write_parameters"]

FORMAT = "ionflow-cellmodel/1"

# ElectrodeParameters field -> BPX name in "Parameterisation"."<Domain> electrode"
_BPX = {
    "porosity": "Porosity",
    "transport_efficiency": "Transport efficiency",
    "surface_area": "Surface area per unit volume [m-1]",
    "particle_radius": "Particle radius [m]",
    "thickness": "Thickness [m]",
}
# ElectrodeParameters field -> "User-defined" name, after "<Domain> electrode "
_USER = {
    "tortuosity_factor": "tortuosity factor (electrolyte)",
    "bruggeman_exponent": "Bruggeman coefficient (electrolyte)",
    "active_material_fraction": "active material volume fraction",
    "reactive_surface_area": "electrolyte-contact surface area per unit volume [m-1]",
}


def _as_list(electrodes) -> list[ElectrodeParameters]:
    items = [electrodes] if isinstance(electrodes, ElectrodeParameters) else list(electrodes)
    names = [e.electrode for e in items]
    if len(set(names)) != len(names):
        raise InputError(f"one parameter set per electrode, got {names}")
    return items


def parameter_document(
    electrodes: ElectrodeParameters | Iterable[ElectrodeParameters],
    *,
    title: str = "Electrode microstructure parameters",
    description: str = "",
) -> dict[str, Any]:
    """The JSON document (a dict) for one or two electrodes; see the module docstring.

    Parameters
    ----------
    electrodes : ElectrodeParameters or several
        At most one per electrode.
    title, description : str
        Header texts.

    Returns
    -------
    dict
        JSON-ready: "Header", "Parameterisation", "User-defined", "ionflow".
    """
    from .. import __version__

    doc: dict[str, Any] = {
        "Header": {
            "Title": title,
            "Description": description
            or f"Measured on segmented images by ionflow {__version__}: partial parameter set, "
            "BPX names, SI units",
            "Model": "Partial",
            "Format": FORMAT,
        },
        "Parameterisation": {},
        "User-defined": {},
        "ionflow": {},
    }
    for e in _as_list(electrodes):
        section = f"{e.domain} electrode"
        doc["Parameterisation"][section] = {
            name: getattr(e, f) for f, name in _BPX.items() if getattr(e, f) is not None
        }
        for f, name in _USER.items():
            doc["User-defined"][f"{section} {name}"] = getattr(e, f)
        doc["ionflow"][section] = {
            "provenance": e.provenance,
            "transport efficiency interval": None if e.interval is None else list(e.interval),
            "confidence": e.confidence,
        }
    return doc


def write_parameters(
    path: str | os.PathLike,
    electrodes: ElectrodeParameters | Iterable[ElectrodeParameters],
    *,
    title: str = "Electrode microstructure parameters",
) -> Path:
    """Write the parameter file (JSON, indented), atomically.

    Parameters
    ----------
    path : str or PathLike
        Output file; its folder is created.
    electrodes : ElectrodeParameters or several
        At most one per electrode.
    title : str
        Header title.

    Returns
    -------
    Path
        The file written.
    """
    from ..errors import InputError
    from ..io import output_folder

    out = Path(path)
    if out.is_dir():
        raise InputError(f"cannot write {out}: it is a folder")
    output_folder(out.parent)  # one line when it cannot be made
    text = json.dumps(parameter_document(electrodes, title=title), indent=2) + "\n"
    tmp = out.with_name(out.name + ".part")
    try:
        tmp.write_text(text)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {out}: {exc.strerror or type(exc).__name__}") from None
    return out


def read_parameters(
    source: str | os.PathLike | Mapping[str, Any],
) -> dict[str, ElectrodeParameters]:
    """Read a parameter file (or its dict).

    Parameters
    ----------
    source : str, PathLike or mapping
        The JSON file or the document already loaded.

    Returns
    -------
    dict of str -> ElectrodeParameters
        ``{"positive": ..., "negative": ...}`` for the electrodes in the file.
    """
    name = None
    if isinstance(source, Mapping):
        doc = source
    else:
        name = str(source)
        try:
            doc = json.loads(Path(source).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the parameter file: {exc}", source=name) from None
    fmt = doc.get("Header", {}).get("Format") if isinstance(doc, Mapping) else None
    if fmt != FORMAT:
        raise InputError(
            f"not an ionflow cell-model file (Format {fmt!r}, want {FORMAT})", source=name
        )
    out = {}
    for electrode in ELECTRODES:
        section = f"{electrode.capitalize()} electrode"
        bpx = doc["Parameterisation"].get(section)
        if bpx is None:
            continue
        user = doc.get("User-defined", {})
        extra = doc.get("ionflow", {}).get(section, {})
        try:
            values = {f: bpx.get(name) for f, name in _BPX.items()}
            values |= {f: user[f"{section} {name}"] for f, name in _USER.items()}
        except KeyError as exc:
            raise InputError(f"{section}: missing {exc.args[0]!r}", source=name) from None
        interval = extra.get("transport efficiency interval")
        out[electrode] = ElectrodeParameters(
            electrode=electrode,
            **values,
            interval=None if interval is None else tuple(interval),
            confidence=extra.get("confidence"),
            provenance=extra.get("provenance", {}),
        )
    if not out:
        raise InputError("the file has no electrode section", source=name)
    return out


def apply_to_bpx(
    bpx: Mapping[str, Any], electrodes: ElectrodeParameters | Iterable[ElectrodeParameters]
) -> dict[str, Any]:
    """A copy of a full BPX document with the measured microstructure values put in.

    Sets "Porosity", "Transport efficiency", "Surface area per unit volume [m-1]", "Particle
    radius [m]" (and "Thickness [m]" when known) of each measured electrode; everything else
    (OCP, kinetics, electrolyte, cell) stays as it was.

    Parameters
    ----------
    bpx : mapping
        A BPX document (as loaded from its JSON); not changed.
    electrodes : ElectrodeParameters or several
        The measured electrodes.

    Returns
    -------
    dict
        The updated copy.
    """
    out = copy.deepcopy(dict(bpx))
    for e in _as_list(electrodes):
        section = out.setdefault("Parameterisation", {}).setdefault(f"{e.domain} electrode", {})
        for f, name in _BPX.items():
            if getattr(e, f) is not None:
                section[name] = getattr(e, f)
    return out
