"""``ionflow app``: a local web page for people who do not script.

Drop an image or a volume, check the segmentation, run the exact solve and the surrogate, see
the numbers and the potential and current maps, download JSON / CSV / TIFF fields. The server
listens on 127.0.0.1 only. Needs the ``app`` extra (``pip install 'ionflow[app]'``: FastAPI,
uvicorn, python-multipart); :mod:`ionflow.app._upload` and :mod:`ionflow.app._analysis` (what the page does) need none
of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_WHERE = {
    "AppConfig": "_config",
    "HOST": "_config",
    "PhaseOptions": "_upload",
    "AnalysisResult": "_analysis",
    "analyse": "_analysis",
    "inspect_upload": "_upload",
    "preview_segmentation": "_upload",
    "create_app": "_server",
    "serve": "_serve",
}

__all__ = [
    "HOST",
    "AnalysisResult",
    "AppConfig",
    "PhaseOptions",
    "analyse",
    "create_app",
    "inspect_upload",
    "preview_segmentation",
    "serve",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from ._analysis import AnalysisResult, analyse
    from ._config import HOST, AppConfig
    from ._serve import serve
    from ._server import create_app
    from ._upload import PhaseOptions, inspect_upload, preview_segmentation


def __getattr__(name: str):
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
