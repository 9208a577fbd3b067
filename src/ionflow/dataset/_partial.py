"""The finished rows of an unfinished dataset build, kept crash-safe beside the output.

HDF5 is not crash-safe: a process killed between two flushes can leave a file that no longer
opens (and one killed before its first flush always does). So a build never writes its output
until the end. Each finished chunk of rows goes to its own file in ``<out>.partial/``, written
to a temporary name, synced and renamed, so a chunk file is either whole or absent whatever kills
the process. ``config.json`` there says which configuration the rows belong to, and ``lock``
keeps two builds of one output apart. The output is assembled from the chunks at the end (again
through a temporary file and a rename) and the folder removed.

Everything in the folder is ionflow's own, but is still read as hostile: ``np.load`` without
pickles, every array's shape, type and range checked; a chunk that fails is removed (its rows
are made again), never trusted.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["PartialBuild", "Rows", "partial_dir", "replace_atomically"]

log = logging.getLogger(__name__)

_OWN = ("config.json", "lock")  # with rows-*.npz and *.tmp: every name ionflow puts here


def partial_dir(out: Path) -> Path:
    """``<out>.partial``: where the finished rows of an unfinished build of ``out`` wait."""
    return out.with_name(out.name + ".partial")


def _sync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_atomically(tmp: Path, target: Path) -> None:
    """Sync ``tmp`` to disk and rename it to ``target``: ``target`` is old or new, never half."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    _sync_dir(target.parent)


@dataclass(frozen=True)
class Rows:
    """Finished rows: ``index`` (k,) increasing, ``images`` uint8 (k, *shape) of 0/1, and
    ``labels`` key -> float64 (k,)."""

    index: np.ndarray
    images: np.ndarray
    labels: dict[str, np.ndarray]


class PartialBuild:
    """The ``<out>.partial/`` folder of one build: lock, configuration, finished chunks.

    Parameters
    ----------
    out : Path
        The dataset file being built.
    config : str
        The configuration as JSON (``DatasetConfig.to_json()``).
    size : int
        Rows in the dataset.
    shape : tuple of int
        Shape of one image.
    keys : tuple of str
        Label names stored per row.
    """

    def __init__(
        self, out: Path, config: str, size: int, shape: tuple[int, ...], keys: tuple[str, ...]
    ) -> None:
        self.out = out
        self.dir = partial_dir(out)
        self.config = config
        self.size = size
        self.shape = tuple(shape)
        self.keys = tuple(keys)
        self._lock_fd: int | None = None

    # -- opening ----------------------------------------------------------------------------

    def open(self) -> np.ndarray:
        """Lock the folder, check (or write) its configuration; the rows done so far, (size,)."""
        if self.dir.exists() and not self.dir.is_dir():
            raise InputError(
                f"{self.dir} is in the way (a file where ionflow keeps an unfinished build); "
                "move it or choose another output name",
                source=str(self.out),
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        config = self.dir / "config.json"
        saved = None
        if config.exists():
            try:
                saved = json.dumps(json.loads(config.read_text()), sort_keys=True)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                log.warning("%s: unreadable (%s); starting the build afresh", config, exc)
                self._clear()
        if saved is not None and saved != self.config:
            self.close()
            raise InputError(
                f"{self.dir} holds an unfinished build with another configuration; rerun with "
                "the options that started it, or delete that folder",
                source=str(self.out),
            )
        if saved is None:
            tmp = self.dir / "config.json.tmp"
            tmp.write_text(self.config)
            replace_atomically(tmp, config)
        for tmp in self.dir.glob("*.tmp"):  # a write cut short by a kill
            tmp.unlink(missing_ok=True)
        done = np.zeros(self.size, bool)
        for path in self.chunks():
            try:
                index = self._index(path)
            except InputError as exc:
                log.warning("%s; its rows are made again", exc)
                path.unlink(missing_ok=True)
                continue
            done[index] = True
        return done

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, no check
            return
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise InputError(
                "another `ionflow dataset` is building this file now; wait for it to finish "
                "(or stop it) before running this one",
                source=str(self.out),
            ) from None
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock (the folder and its rows stay)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _clear(self) -> None:
        for path in [*self.chunks(), *self.dir.glob("*.tmp"), self.dir / "config.json"]:
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete ionflow's files and the folder (kept if something else was put there)."""
        self._clear()
        (self.dir / "lock").unlink(missing_ok=True)
        self.close()
        try:
            self.dir.rmdir()
        except OSError:
            log.warning("%s: left in place (it holds files ionflow did not write)", self.dir)

    # -- chunks -----------------------------------------------------------------------------

    def chunks(self) -> list[Path]:
        """The finished chunk files, in the order of their first row."""
        return sorted(self.dir.glob("rows-*.npz"))

    def add(self, rows: Rows) -> Path:
        """Write one finished chunk crash-safely (temporary name, sync, rename)."""
        order = np.argsort(rows.index)
        index = np.asarray(rows.index, np.int64)[order]
        path = self.dir / f"rows-{index[0]:09d}-{index.size:06d}.npz"
        tmp = path.with_name(path.name + ".tmp")
        arrays = {f"label_{k}": np.asarray(rows.labels[k], np.float64)[order] for k in self.keys}
        with open(tmp, "wb") as fh:
            # numpy's stub lets **arrays reach allow_pickle: bool; the keys are all label_*
            np.savez_compressed(fh, index=index, images=rows.images[order], **arrays)  # type: ignore[arg-type]
        replace_atomically(tmp, path)
        return path

    def _index(self, path: Path) -> np.ndarray:
        """A chunk's row numbers, checked; :class:`InputError` if it is not one of ours."""
        try:
            with np.load(path, allow_pickle=False) as z:
                index = z["index"]
                names = set(z.files)
        except Exception as exc:  # noqa: BLE001 - zip, header and key errors alike
            raise InputError(f"damaged chunk ({exc})", source=str(path)) from None
        expected = {"index", "images", *(f"label_{k}" for k in self.keys)}
        if names != expected:
            raise InputError(f"unexpected arrays {sorted(names)}", source=str(path))
        if (
            index.ndim != 1
            or index.size == 0
            or not np.issubdtype(index.dtype, np.integer)
            or index.min() < 0
            or index.max() >= self.size
            or np.any(np.diff(index) <= 0)
        ):
            raise InputError("row numbers out of range or out of order", source=str(path))
        return index

    def load(self, path: Path) -> Rows:
        """One chunk's rows, every array checked (a damaged chunk raises InputError)."""
        index = self._index(path)
        k = index.size
        try:
            with np.load(path, allow_pickle=False) as z:
                images = z["images"]
                labels = {key: z[f"label_{key}"] for key in self.keys}
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"damaged chunk ({exc})", source=str(path)) from None
        if images.dtype != np.uint8 or images.shape != (k, *self.shape) or images.max() > 1:
            raise InputError(
                f"images of type {images.dtype} and shape {images.shape}, expected uint8 0/1 "
                f"of shape {(k, *self.shape)}",
                source=str(path),
            )
        for key, value in labels.items():
            if value.dtype != np.float64 or value.shape != (k,):
                raise InputError(f"label {key!r} has the wrong type or shape", source=str(path))
        return Rows(index, images, labels)

    def rows(self) -> Iterator[Rows]:
        """Every finished chunk, in row order."""
        for path in self.chunks():
            yield self.load(path)
