"""The FastAPI application behind ``ionflow app``: a small page and a JSON API.

Routes (all under 127.0.0.1):

* ``GET /`` the page; ``GET /static/...`` its script and style; ``GET /api/info`` limits.
* ``POST /api/uploads`` (multipart ``file``): save and describe an image (201), or a 4xx with
  ``{"detail": message}`` (413 too large, 415 not an image file, 422 unreadable, pixels that
  are no image as ``ionflow simulate`` says, or all insulating).
* ``POST /api/uploads/{id}/segmentation``: phases with the given options, as numbers and a PNG.
* ``POST /api/uploads/{id}/jobs``: start a solve (202, a job id); ``GET /api/jobs/{id}``:
  progress, then the result; ``.../result.json|csv``, ``.../maps/{axis}/{kind}.png`` and
  ``.../fields/{axis}/{kind}.tif`` (float32, for Fiji) once done.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import secrets
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, File, HTTPException, Query, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import __version__
from ..errors import InputError
from ..io import IMAGE_SUFFIXES
from ._analysis import AnalysisResult, analyse
from ._config import HOST, AppConfig
from ._jobs import JobStore
from ._render import render_field, render_segmentation
from ._upload import (
    PhaseOptions,
    UploadInfo,
    inspect_upload,
    phase_choice_error,
    preview_segmentation,
)

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
UPLOAD_PATH = "/api/uploads"
# what ionflow reads, but one file per upload: a MetaImage .mhd needs its .raw beside it
_SUFFIXES = tuple(s for s in IMAGE_SUFFIXES if s != ".mhd")
_MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file


class _Workspace:
    """Uploaded files in a private temporary folder, the last ``keep`` of them."""

    def __init__(self, keep: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ionflow-app-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)
        self._uploads: OrderedDict[str, UploadInfo] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def new_folder(self) -> tuple[str, Path]:
        upload_id = secrets.token_hex(8)
        folder = self.root / upload_id
        folder.mkdir()
        return upload_id, folder

    def add(self, info: UploadInfo) -> None:
        with self._lock:
            self._uploads[info.id] = info
            while len(self._uploads) > self._keep:
                _, old = self._uploads.popitem(last=False)
                shutil.rmtree(old.path.parent, ignore_errors=True)

    def get(self, upload_id: str) -> UploadInfo:
        with self._lock:
            info = self._uploads.get(upload_id)
        if info is None:
            raise HTTPException(
                404,
                "unknown upload (the server keeps the latest ones only and "
                "forgets them when it restarts): upload the file again",
            )
        return info

    def close(self) -> None:
        self._finalizer()


class OptionsIn(BaseModel):
    """:class:`~ionflow.app._analysis.PhaseOptions` as JSON."""

    threshold: float | list[float] | None = None
    invert: bool = False
    denoise: Literal["median", "nlmeans"] | None = None
    min_size: int = Field(0, ge=0)
    conductive_label: float | None = None
    crop: tuple[float, float, float, float] | None = None
    # phases by gray level (``--phases``, ``--phase-names``, ``--conductive-phase``): checked
    # by ionflow.io.ReadOptions, whose messages the page shows (a 422)
    phases: int | None = None
    phase_names: list[str] | None = None
    conductive_phases: list[str] | None = None

    def phase_options(self) -> PhaseOptions:
        crop = self.crop if self.crop and any(self.crop) else None
        threshold: float | tuple[float, ...] | None = None
        if isinstance(self.threshold, list):
            cuts = tuple(self.threshold)
            threshold = cuts[0] if len(cuts) == 1 else cuts
        else:
            threshold = self.threshold
        return PhaseOptions(
            threshold=threshold,
            invert=self.invert,
            denoise=self.denoise,
            min_size=self.min_size,
            conductive_label=self.conductive_label,
            crop=crop,
            phases=self.phases,
            phase_names=tuple(self.phase_names) if self.phase_names else None,
            conductive_phases=tuple(self.conductive_phases) if self.conductive_phases else None,
        )


class SegmentIn(BaseModel):
    options: OptionsIn = OptionsIn()
    index: int | None = Field(None, ge=0, description="slice of a volume to show (axis 0)")


class RunIn(BaseModel):
    options: OptionsIn = OptionsIn()
    axis: Literal["0", "1", "2", "all"] = "0"
    exact: bool = True
    surrogate: bool = True
    voltage: float = Field(1.0, allow_inf_nan=False)
    conductivity: float = Field(1.0, gt=0, allow_inf_nan=False)
    pixel_size: float | None = Field(None, gt=0, allow_inf_nan=False)


def _safe_name(filename: str | None) -> str:
    """A file name that is safe to write: no folders, no odd characters."""
    name = Path(filename or "upload").name
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "upload"
    return name[-120:]


def _png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _mb(n: float) -> str:
    return f"{n / 1e6:.3g} MB"


def create_app(config: AppConfig | None = None) -> FastAPI:
    """The web app (an ASGI application; ``ionflow app`` serves it with uvicorn)."""
    config = config or AppConfig()
    workspace = _Workspace(config.keep_uploads)
    jobs = JobStore(workers=config.workers, keep=config.keep_jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        jobs.close()
        workspace.close()

    app = FastAPI(
        title="ionflow", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.config = config
    app.state.workspace = workspace
    app.state.jobs = jobs
    # a page on another site must not read answers through a name that resolves to 127.0.0.1
    # (DNS rebinding): only requests addressed to the loopback names are served
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[HOST, "localhost"])
    limit = config.max_upload_bytes

    @app.middleware("http")
    async def upload_limit(request, call_next):
        # refuse a too-large upload before its body is read (and spooled to disk)
        if request.method == "POST" and request.url.path == UPLOAD_PATH:
            length = request.headers.get("content-length")
            if length is None:
                return JSONResponse({"detail": "the upload needs a Content-Length"}, 411)
            if not length.isdigit() or int(length) > limit + _MULTIPART_SLACK:
                return JSONResponse(
                    {"detail": _too_large(int(length) if length.isdigit() else -1)}, 413
                )
        return await call_next(request)

    def _too_large(size: int) -> str:
        what = f"the file is {_mb(size)}" if size >= 0 else "the file is too large"
        return (
            f"{what}; the limit is {_mb(limit)} (start the app with --max-upload-mb to change it)"
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/api/info")
    def info() -> dict:
        return {
            "version": __version__,
            "max_upload_bytes": limit,
            "suffixes": list(_SUFFIXES),
        }

    @app.post(UPLOAD_PATH, status_code=201)
    def upload(file: Annotated[UploadFile, File()]) -> dict:
        name = _safe_name(file.filename)
        if Path(name).suffix.lower() not in _SUFFIXES:
            raise HTTPException(
                415,
                f"{file.filename or 'the upload'}: not an image file; drop a PNG or TIFF "
                "(also read: NPY, BMP, JPEG, GIF, MetaImage .mha, AmiraMesh .am)",
            )
        upload_id, folder = workspace.new_folder()
        path = folder / name
        size = 0
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    break
                out.write(chunk)
        if size > limit:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(413, _too_large(size))
        try:
            up = inspect_upload(
                path, name=file.filename or name, upload_id=upload_id, size_bytes=size
            )
        except InputError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(422, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a file the checks missed is still refused
            # in one line, not a 500: the reader's checks (those of ionflow simulate) come
            # first, so this is a decoder's own error on a file they let through
            shutil.rmtree(folder, ignore_errors=True)
            detail = (str(exc).splitlines() or [""])[0][:160] or type(exc).__name__
            log.warning("upload %s: %s: %s", name, type(exc).__name__, detail)
            raise HTTPException(
                422, f"{file.filename or name}: not a usable image ({detail})"
            ) from None
        workspace.add(up)
        return up.to_dict()

    @app.post("/api/uploads/{upload_id}/segmentation")
    def segmentation(upload_id: str, body: SegmentIn) -> dict:
        up = workspace.get(upload_id)
        try:
            preview = preview_segmentation(up, body.options.phase_options())
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        return {
            "electrolyte_fraction": preview.electrolyte_fraction,
            "threshold": preview.threshold if len(preview.thresholds) <= 1 else None,
            "thresholds": list(preview.thresholds),
            "phase_names": list(preview.phase_names),
            "phase_fractions": list(preview.phase_fractions),
            "conductive_phases": list(preview.conductive),
            "warning": preview.warning,
            "shape": list(preview.electrolyte.shape),
            "image": _png_data_url(render_segmentation(preview, index=body.index, title=up.name)),
        }

    @app.post("/api/uploads/{upload_id}/jobs", status_code=202)
    def start(upload_id: str, body: RunIn) -> dict:
        up = workspace.get(upload_id)
        axes = list(range(up.ndim)) if body.axis == "all" else [int(body.axis)]
        if axes[-1] >= up.ndim:
            raise HTTPException(
                422, f"{up.name}: axis {axes[-1]} does not exist for a {up.ndim}D image"
            )
        if not (body.exact or body.surrogate):
            raise HTTPException(422, "nothing to run: tick the exact solve, the surrogate or both")
        options = body.options.phase_options()
        problem = phase_choice_error(up, options)
        if problem is not None:
            raise HTTPException(422, problem)

        def work(progress):
            return analyse(
                up,
                options,
                axes=axes,
                exact=body.exact,
                surrogate=body.surrogate,
                voltage=body.voltage,
                conductivity=body.conductivity,
                pixel_size=body.pixel_size,
                progress=progress,
            )

        return jobs.submit(upload_id, work).to_dict()

    def _job(job_id: str, *, done: bool = False):
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(
                404, "unknown job (the server keeps the latest ones only): run it again"
            )
        if done and job.state != "done":
            raise HTTPException(
                409, f"job {job_id} is {job.state}" + (f": {job.error}" if job.error else "")
            )
        return job

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str) -> dict:
        job = _job(job_id)
        out = job.to_dict()
        if job.state == "done":
            out["result"] = job.result.to_dict()
        return out

    def _stem(result: AnalysisResult) -> str:
        return Path(_safe_name(result.file)).stem

    @app.get("/api/jobs/{job_id}/result.json")
    def result_json(job_id: str) -> JSONResponse:
        result = _job(job_id, done=True).result
        return JSONResponse(
            result.to_dict(),
            headers={"Content-Disposition": f'attachment; filename="{_stem(result)}_ionflow.json"'},
        )

    @app.get("/api/jobs/{job_id}/result.csv")
    def result_csv(job_id: str) -> Response:
        result = _job(job_id, done=True).result
        return Response(
            result.to_csv(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{_stem(result)}_ionflow.csv"'},
        )

    def _answer(job_id: str, axis: int):
        result = _job(job_id, done=True).result
        try:
            answer = result.axis(axis)
        except KeyError:
            raise HTTPException(404, f"no result along axis {axis}") from None
        if answer.potential is None:
            raise HTTPException(404, "no fields: the exact solve was not run")
        return result, answer

    @app.get("/api/jobs/{job_id}/maps/{axis}/{kind}.png")
    def field_map(
        job_id: str,
        axis: int,
        kind: Literal["potential", "current"],
        index: Annotated[int | None, Query(ge=0)] = None,
        log: bool = False,
    ) -> Response:
        result, _ = _answer(job_id, axis)
        png = render_field(result, axis, kind, index=index, log_scale=log)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/fields/{axis}/{kind}.tif")
    def field_tiff(job_id: str, axis: int, kind: Literal["potential", "current"]) -> Response:
        import tifffile

        result, answer = _answer(job_id, axis)
        data = answer.potential if kind == "potential" else answer.current_magnitude
        buf = io.BytesIO()
        # ImageJ hyperstack metadata: Fiji opens a volume as a stack with its voxel size
        meta = {"axes": "ZYX" if data.ndim == 3 else "YX"}
        resolution = None
        if result.pixel_size:
            meta["unit"] = "um"
            per_um = 1.0 / (result.pixel_size * 1e6)
            resolution = (per_um, per_um)
            if data.ndim == 3:
                meta["spacing"] = result.pixel_size * 1e6
        tifffile.imwrite(
            buf, data.astype("float32"), imagej=True, metadata=meta, resolution=resolution
        )
        name = f"{_stem(result)}_axis{axis}_{'potential' if kind == 'potential' else 'current_density'}.tif"
        return Response(
            buf.getvalue(),
            media_type="image/tiff",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return app
