"""The tools that ``benchmarks/solver.py`` compares, one adapter module each.

Every adapter module defines the same names, so the runner never mentions a tool by name:

* ``NAME``: the tool as given to ``--tools``; ``LABEL``: its column in the checks table;
* ``REQUIRES``: the import names it needs (checked with ``find_spec``, nothing is imported);
  ``INSTALL``: how to get them; ``VERSIONS``: distributions whose versions the report prints;
* ``MARKER``: ``(marker, colour)`` in the scaling plot; ``CONVENTION``: its Markdown bullet in
  "Conventions and conversions";
* ``runner(images, axis, spec)``: a function that solves the case's images and returns
  ``(relative conductivities in ionflow's convention, info dict)``; the runner times it;
* ``known_answers(img)``: the tool's values on an image with a known answer, converted to
  ionflow's convention (columns of the conversion table);
* ``on_blocked(img)``: one line saying what the tool does with a non-percolating image.

Peers (every tool but ionflow) also define ``API`` (the variant of a single-image row), ``TAG``
(short name of their case files), ``BATCH_VARIANT`` and ``BATCH_SPEC`` (how a batch is run).

The adapters import their tool inside these functions only: this package imports with numpy
alone, and a missing tool is one clear line (:func:`missing`), not a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from types import ModuleType

TOOLS = ("ionflow", "taufactor", "porespy")  # ionflow first: it is the reference
PEERS = TOOLS[1:]


class PeerMissing(ImportError):
    """A tool the benchmark was asked to run is not installed."""


def get(name: str) -> ModuleType:
    """The adapter module of tool ``name`` (one of :data:`TOOLS`)."""
    if name not in TOOLS:
        raise ValueError(f"unknown tool {name!r}; choose from {', '.join(TOOLS)}")
    return importlib.import_module(f".{name}", __name__)


def missing(tools: list[str]) -> dict[str, str]:
    """``{tool: one line}`` for each tool in ``tools`` that cannot be imported here (none: {})."""
    out = {}
    for name in tools:
        adapter = get(name)
        absent = [m for m in adapter.REQUIRES if importlib.util.find_spec(m) is None]
        if absent:
            out[name] = (
                f"{name} is not installed for {sys.executable} (no module "
                f"{', '.join(absent)}; `{adapter.INSTALL}`)"
            )
    return out


def require(module: str, tool: str) -> ModuleType:
    """Import ``module`` for ``tool``, or raise :class:`PeerMissing` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PeerMissing(
            f"{tool} needs `{module}`, which is not installed ({get(tool).INSTALL})"
        ) from exc


def preload(*modules: str) -> None:
    """Import what a tool imports lazily on its first call, so solve times exclude imports."""
    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
