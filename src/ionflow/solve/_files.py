"""Files in, typed results out: the batch entry point behind ``ionflow simulate``.

Each file is read once, in a worker, and solved along every requested axis there; its
outcomes come back together, in input order, as soon as they are ready. With ``output`` the
rows go to a resumable results file (:class:`~ionflow.solve._resume.ResultsFile`) as they
arrive, so an interruption loses at most the files being solved at that moment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ._batch import check_jobs, default_chunksize, message, run_tasks
from ._options import SolveOptions
from ._outcome import FileOutcome, anisotropy
from ._result import ConductionResult

__all__ = ["simulate_files"]


@dataclass(frozen=True)
class _Task:
    """One file for a worker: which axes to solve, with what."""

    source: str
    axes: tuple[int, ...] | None  # None: every axis of the image
    skip: frozenset[int]  # axes already in the results file (with axes None)
    pixel_size: float | tuple[float, ...] | None
    refused: str | None = None  # a reason to refuse the file without reading it


@dataclass(frozen=True)
class _Run:
    """What every task of a run shares (sent to the workers once per chunk)."""

    read: Callable[[str], np.ndarray]
    options: SolveOptions
    fields: bool
    fields_dir: str | None
    axis_names: bool = False  # several axes per file: the field files name their axis
    picture: Callable[..., Any] | None = None  # draws <stem>_fields.png (ionflow.plot)
    formats: tuple[str, ...] | None = None  # of the field files (None: the default)


def field_legend(
    image: np.ndarray, options: SolveOptions, names: Sequence[str] | None = None
) -> list[tuple[float, str]]:
    """What each value of a solved image is, for the legend of a fields picture.

    Parameters
    ----------
    image : ndarray
        The image as solved: bool/binary, or a label image (with label conductivities).
    options : SolveOptions
        Its conductivities.
    names : sequence of str, optional
        Names of the labels 0, 1, ... (phases cut by gray level).

    Returns
    -------
    list of (value, text)
        E.g. ``[(0, "solid: insulating"), (1, "electrolyte: conducts, 1 S/m")]``.
    """
    if options.label_conductivities and image.dtype != bool:
        sigma = dict(options.label_conductivities)
        out = []
        for v in np.unique(image).tolist():
            i = int(v)
            name = names[i] if names and v == i and 0 <= i < len(names) else f"label {v:g}"
            s = sigma.get(float(v), 0.0)
            out.append(
                (float(v), f"{name}: conducts, {s:g} S/m" if s > 0 else f"{name}: insulating")
            )
        return out
    m = options.matrix_conductivity
    solid = f"solid: conducts, {m:g} S/m" if m > 0 else "solid: insulating"
    return [(0.0, solid), (1.0, f"electrolyte: conducts, {options.conductivity:g} S/m")]


def save_fields(
    directory: str | os.PathLike,
    source: str,
    image: np.ndarray,
    result: ConductionResult,
    *,
    axis_name: bool = False,
    picture: Callable[..., Any] | None = None,
    formats: Sequence[str] | None = None,
    legend: Sequence[tuple[float, str]] | None = None,
) -> list[Path]:
    """Write one result's fields (:func:`ionflow.io.write_fields`) and its picture.

    ``formats`` (default :data:`ionflow.io.DEFAULT_FIELD_FORMATS`): ``tif`` (float32 ImageJ
    stacks with the voxel size, for Fiji), ``vti`` (VTK image data, for ParaView), ``npy``
    (float64, for Python) and ``png``: with ``picture`` (e.g. :func:`ionflow.plot.plot_fields`;
    the solver draws nothing itself), ``<stem>_fields.png``, drawn with the pixel size,
    whether anything percolates and ``legend`` (what each value of ``image`` is). Every file
    is written then renamed; ``axis_name``: ``<stem>_axis<a>_...`` (one set per axis of an
    ``--axis all`` run). Returns the files written.
    """
    from ..io import check_field_formats, write_fields

    out = Path(directory)
    stem = Path(source).stem + (f"_axis{result.axis}" if axis_name else "")
    if result.potential is None or result.current_density is None:
        raise ValueError("save_fields needs a result solved with fields=True")
    formats = check_field_formats(formats)
    info = f"ionflow: {Path(source).name}, flow along array axis {result.axis}"
    written = write_fields(
        out,
        stem,
        result.potential,
        result.current_density,
        pixel_size=result.pixel_size,
        formats=formats,
        info=info,
    )
    if picture is None or "png" not in formats:
        return written
    tmp = out / f"{stem}_fields.tmp.png"
    picture(
        tmp,
        image,
        result.potential,
        result.current_density,
        axis=result.axis,
        title=f"{Path(source).name}: sigma_eff/sigma = {result.relative_conductivity:.4g}",
        pixel_size=result.pixel_size,
        percolating=result.percolating,
        legend=legend,
    )
    os.replace(tmp, out / f"{stem}_fields.png")
    return [*written, out / f"{stem}_fields.png"]


def _solve_file(task: _Task, run: _Run) -> list[FileOutcome]:
    from ._simulate import simulate

    src = task.source
    if task.refused is not None:
        return [FileOutcome(src, -1, error=f"{src}: {task.refused}")]
    try:
        image = run.read(src)
    except Exception as exc:  # noqa: BLE001 - one bad input must not lose the batch
        return [FileOutcome(src, -1, error=message(exc, src))]
    ndim = np.ndim(image)
    axes = task.axes if task.axes is not None else tuple(range(ndim))
    out = []
    kwargs = run.options.simulate_kwargs()
    names = _phase_names(run.read)
    if run.options.label_conductivities and image.dtype != bool:
        from ..io._phases import log_labels

        log_labels(image, dict(run.options.label_conductivities), names=names, source=src)
    for axis in axes:
        if axis in task.skip:
            continue
        try:
            res = simulate(
                image,
                axis=axis,
                pixel_size=task.pixel_size,
                fields=run.fields or run.fields_dir is not None,
                source=src,
                **kwargs,
            )
            if run.fields_dir is not None:
                save_fields(
                    run.fields_dir,
                    src,
                    image,
                    res,
                    axis_name=run.axis_names,
                    picture=run.picture,
                    formats=run.formats,
                    legend=field_legend(image, run.options, names),
                )
                if not run.fields:  # the files have them: do not send them back
                    res = replace(res, potential=None, current_density=None)
        except Exception as exc:  # noqa: BLE001 - one bad input must not lose the batch
            out.append(FileOutcome(src, axis, error=message(exc, src)))
            continue
        out.append(FileOutcome(src, axis, result=res, pixel_size=task.pixel_size))
    return out


def _phase_names(read: Any) -> tuple[str, ...] | None:
    """The names of the gray-level classes a ReadOptions cuts (None: no classes)."""
    n = getattr(read, "n_phases", 2)
    return tuple(read.names) if n > 2 or getattr(read, "phase_names", None) else None


def _chunk(args: tuple[list[_Task], _Run]) -> list[list[FileOutcome]]:
    tasks, run = args
    return [_solve_file(t, run) for t in tasks]


def _check_axes(axes: Sequence[int] | None) -> tuple[int, ...] | None:
    if axes is None:
        return None
    out = tuple(axes)
    if not out or any(isinstance(a, bool) or a not in (0, 1, 2) for a in out):
        raise InputError(f"axis must be 0, 1 or 2 (None: every axis), got {list(axes)}")
    return out


def _fields_dir(fields_dir: str | os.PathLike | None) -> str | None:
    if fields_dir is None:
        return None
    path = Path(fields_dir)
    if path.exists() and not path.is_dir():
        raise InputError("is a file; the fields go into a folder", source=str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot make the fields folder ({exc.strerror})", source=str(path)
        ) from None
    return str(path)


def simulate_files(
    files: Sequence[str | os.PathLike],
    *,
    axes: Sequence[int] | None = (0,),
    read: Callable[[str], np.ndarray] | None = None,
    options: SolveOptions | None = None,
    fields: bool = False,
    fields_dir: str | os.PathLike | None = None,
    fields_picture: Callable[..., Any] | None = None,
    fields_format: str | Sequence[str] | None = None,
    output: str | os.PathLike | None = None,
    jobs: int | None = None,
    scheduler: Any = None,
    chunksize: int | None = None,
    progress: bool = False,
) -> Iterator[FileOutcome]:
    """Solve every file along every axis; yield :class:`FileOutcome` objects in input order.

    Parameters
    ----------
    files : sequence of paths
        2D images and 3D volumes may be mixed.
    axes : sequence of int, or None
        Flow axes (0, 1, 2); None: every axis of each image, with ``anisotropy`` set on each of
        its outcomes. Each file is read once for all its axes.
    read : callable, optional
        ``path -> array``, picklable: a :class:`~ionflow.io.ReadOptions` (default
        ``ReadOptions()``), whose options a results file records.
    options : SolveOptions, optional
        Physics and solver options (default ``SolveOptions()``). Its ``pixel_size`` applies
        to every file; None: each TIFF's own (:func:`ionflow.io.pixel_sizes`), else l = 1.
    fields : bool
        Keep the potential and current density in the results.
    fields_dir : path, optional
        Write each file's fields there (see :func:`ionflow.io.write_fields`: float32 ImageJ
        TIFFs ``<stem>_potential.tif``, ``_current_magnitude.tif``, ``_current_<z|y|x>.tif``;
        ``<stem>_fields.vti``; ``<stem>_potential.npy``, ``_current_density.npy``;
        ``<stem>_axis<a>_...`` with several axes). Two inputs with the same name stem would
        overwrite each other: the later one is refused (its outcome is an error).
    fields_picture : callable, optional
        ``picture(path, image, potential, current_density, axis=, title=, pixel_size=,
        percolating=, legend=)`` draws ``<stem>_fields.png`` beside them
        (``ionflow.plot.plot_fields``; picklable).
    fields_format : str or sequence of str, optional
        Any of ``tif``, ``vti``, ``npy``, ``png`` (``"tif,vti"`` or a list); default
        :data:`ionflow.io.DEFAULT_FIELD_FORMATS` (tif and png).
    output : path, optional
        A results file (JSON lines, see :mod:`ionflow.solve._resume`): rows are appended as
        they arrive, fsynced; (file, axis) rows already there *with equal options* are skipped
        (not yielded); the file is locked for the run.
    jobs, scheduler, chunksize, progress
        As :func:`ionflow.simulate_many`: local worker processes, or a Dask scheduler address
        or client; files per task; a progress bar on stderr.

    Returns
    -------
    Iterator of FileOutcome
        One per (file, axis); an unreadable file gives one with ``axis = -1`` and the error.

    Raises
    ------
    InputError
        At the call, before any work: bad axes or jobs, ``output`` a folder or locked by
        another run, ``fields_dir`` a file. An unreachable or malformed Dask scheduler
        raises :class:`~ionflow.IonflowError` when iteration starts.

    Notes
    -----
    The checks and the results-file lock happen when this is called; the work happens as the
    returned iterator is consumed, and the lock is released when it is exhausted or closed.
    """
    from ..io import ReadOptions, check_field_formats

    axes = _check_axes(axes)
    formats = check_field_formats(fields_format)
    read = read if read is not None else ReadOptions()
    options = options if options is not None else SolveOptions()
    picked = isinstance(read, ReadOptions) and (
        read.conductive_labels is not None or read.conductive_phases is not None
    )
    if picked and options.label_conductivities:
        # the reader would binarise the image first, and the table then apply to 0 and 1
        raise InputError(
            "conductive labels (--conductive-label, --conductive-phase) do not go with "
            "label_conductivities (--label-conductivity): the conductivities say which labels "
            "conduct (0 insulates)"
        )
    jobs = check_jobs(jobs)
    run = _Run(
        read,
        options,
        fields,
        _fields_dir(fields_dir),
        axis_names=axes is None or len(axes) > 1,
        picture=fields_picture,
        formats=formats,
    )
    sink = None
    if output is not None:
        from ._resume import ResultsFile

        described = read.to_dict() if isinstance(read, ReadOptions) else repr(read)
        sink = ResultsFile(output, {"read": described, "solve": options.to_dict()})
    return _outcomes([str(f) for f in files], axes, run, sink, jobs, scheduler, chunksize, progress)


def _outcomes(
    sources: list[str],
    axes: tuple[int, ...] | None,
    run: _Run,
    sink: Any,
    jobs: int,
    scheduler: Any,
    chunksize: int | None,
    progress: bool,
) -> Iterator[FileOutcome]:
    from ..io import pixel_sizes, same_stems

    bar = None
    try:
        done: dict[str, dict[int, dict]] = {}  # file -> axis -> row already in the output
        for (f, a), row in (sink.done if sink is not None else {}).items():
            done.setdefault(f, {})[a] = row
        clashes = same_stems(sources) if run.fields_dir is not None else {}
        tasks = [t for src in sources if (t := _plan(src, axes, done.get(src, {}), clashes, run))]
        if sink is not None and sink.stale:
            wanted = {t.source for t in tasks}
            sink.warn_stale(
                [(f, a) for f, a in sink.stale if f in wanted and (axes is None or a in axes)]
            )
        sizes = pixel_sizes([t.source for t in tasks], run.options.pixel_size)
        tasks = [replace(t, pixel_size=sizes[t.source]) for t in tasks]
        size = chunksize or default_chunksize(len(tasks), jobs, scheduler)
        chunks = [(tasks[i : i + size], run) for i in range(0, len(tasks), size)]
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(tasks), unit="file", desc="simulate", leave=False)
        for chunk in run_tasks(_chunk, chunks, jobs=jobs, scheduler=scheduler):
            for outcomes in chunk:
                if bar is not None:
                    bar.update(1)
                if axes is None:
                    outcomes = _with_anisotropy(outcomes, done)
                for outcome in outcomes:
                    if sink is not None and outcome.result is not None:
                        sink.write(outcome.to_dict())
                    yield outcome
    finally:
        if bar is not None:
            bar.close()
        if sink is not None:
            sink.close()


def _plan(
    src: str,
    axes: tuple[int, ...] | None,
    have: dict[int, dict],
    clashes: dict[str, str],
    run: _Run,
) -> _Task | None:
    """The task for one file, or None when the results file already has all it asks for."""
    if axes is not None:
        todo: tuple[int, ...] | None = tuple(a for a in axes if a not in have)
        if not todo:
            return None
        skip: frozenset[int] = frozenset()
    else:
        dims = max((len(row.get("shape") or ()) for row in have.values()), default=0)
        if dims and set(have) >= set(range(dims)):
            return None  # every axis of this image is already there
        todo, skip = None, frozenset(have)
    refused = None
    if src in clashes:
        refused = (
            f"has the same name as {clashes[src]}; its fields would overwrite "
            f"{Path(str(run.fields_dir)) / Path(src).stem}_*; simulate it in another run"
        )
    return _Task(src, todo, skip, None, refused)


def _with_anisotropy(
    outcomes: list[FileOutcome], done: dict[str, dict[int, dict]]
) -> list[FileOutcome]:
    """Set the anisotropy of one file's outcomes (axes already in the results file count)."""
    solved = [o for o in outcomes if o.result is not None]
    if not solved:
        return outcomes
    values = {o.axis: o.result.relative_conductivity for o in solved}  # type: ignore[union-attr]
    for a, row in done.get(solved[0].source, {}).items():
        if a not in values and row.get("relative_conductivity") is not None:
            values[a] = float(row["relative_conductivity"])
    ratio = anisotropy(values.values())
    return [replace(o, anisotropy=ratio) if o.result is not None else o for o in outcomes]
