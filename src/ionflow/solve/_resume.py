"""A results file that a rerun resumes: JSON lines, locked, one fsync per row.

Conventions (``ionflow simulate --output``):

* one JSON object per line, the row of ``--json`` plus ``"options"``: the read and solve
  options that made it. A rerun skips a (file, axis) only when a row for it was made with
  *equal* options; rows made with other options stay in the file and their inputs are solved
  again (a warning says so, naming an option that differs), so a number is never reported for
  settings that did not make it.
* every row is flushed and fsynced as it is written: an interrupted run keeps every row it
  finished; a last line cut short by the interruption is reported and redone.
* the file is locked (``fcntl.flock``) for the whole run: a second run on the same file is
  refused with one line instead of writing duplicates.
* a line that is not a result row (garbage, a foreign tool's output) is reported, never
  silently kept as "done".
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["ResultsFile"]

log = logging.getLogger(__name__)

_SHOWN = 3  # problem lines reported one by one; the rest are counted


def _normal(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples -> lists, ints stay ints)."""
    return json.loads(json.dumps(value))


def _differences(theirs: Any, ours: dict) -> str:
    if not isinstance(theirs, dict):
        return "made without recorded options (an older ionflow)"
    parts = []
    for group, values in ours.items():
        old = theirs.get(group)
        if not isinstance(values, dict) or not isinstance(old, dict):
            if old != values:
                parts.append(f"{group} {old!r} here {values!r}")
            continue
        for key, value in values.items():
            if old.get(key, None) != value:
                parts.append(f"{key} {old.get(key)!r} here {value!r}")
    return "made with other options (" + ", ".join(parts[:4]) + ")"


class ResultsFile:
    """Append result rows to ``path``; know which (file, axis) rows it already holds.

    Parameters
    ----------
    path : path
        The ``.jsonl`` file (created with its folder if missing).
    options : dict
        JSON-able description of the run's options, stored in every row as ``"options"``.

    Attributes
    ----------
    done : dict
        ``(file, axis) -> row`` for the rows made with equal options.
    stale : dict
        ``(file, axis) -> why`` for rows made only with other options (see :meth:`warn_stale`).

    Raises
    ------
    InputError
        ``path`` is a folder, cannot be opened, or another run holds its lock.
    """

    def __init__(self, path: str | os.PathLike, options: dict[str, Any]) -> None:
        self.path = Path(path)
        self.options = _normal(options)
        src = str(self.path)
        if self.path.is_dir():
            raise InputError("is a folder; the output must be a .jsonl file", source=src)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a+b")  # noqa: SIM115 - held open for the whole run
        except OSError as exc:
            raise InputError(f"cannot write the output ({exc.strerror})", source=src) from None
        # a device or pipe (/dev/null, a FIFO): rows stream through, nothing to resume or lock
        self._regular = stat.S_ISREG(os.fstat(self._fh.fileno()).st_mode)
        self.stale: dict[tuple[str, int], str] = {}
        try:
            if self._regular:
                self._lock()
                self.done = self._scan()
            else:
                self.done = {}
        except BaseException:
            self._fh.close()
            raise

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(
                "another ionflow run is writing to this file; wait for it to finish or choose "
                "another output",
                source=str(self.path),
            ) from None

    def _scan(self) -> dict[tuple[str, int], dict]:
        self._fh.seek(0)
        data = self._fh.read()
        if data.strip() and not data.lstrip().startswith(b"{"):  # an image, say: keep it
            raise InputError(
                "is not a results file (JSON lines); choose a new .jsonl file for --output",
                source=str(self.path),
            )
        lines = data.split(b"\n")
        cut = bool(data) and not data.endswith(b"\n")
        done: dict[tuple[str, int], dict] = {}
        other: dict[tuple[str, int], str] = {}
        bad: list[str] = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                key = (row["file"], row["axis"])
                if not (isinstance(key[0], str) and type(key[1]) is int and "error" not in row):
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                if cut and number == len(lines):
                    bad.append(f"line {number} was cut short (an interrupted run); it is redone")
                else:
                    bad.append(f"line {number} is not a result row; ignored")
                continue
            if row.get("options") == self.options:
                done[key] = row
            else:
                other[key] = _differences(row.get("options"), self.options)
        src = str(self.path)
        for text in bad[:_SHOWN]:
            log.warning("%s: %s", src, text)
        if len(bad) > _SHOWN:
            log.warning("%s: %d more lines are not result rows; ignored", src, len(bad) - _SHOWN)
        self.stale = {key: why for key, why in other.items() if key not in done}
        if done:
            log.info("%s: %d result(s) already there; resuming", src, len(done))
        if cut:  # end the cut line, so that the next row starts on a line of its own
            self._append(b"\n")
        return done

    def warn_stale(self, keys: list[tuple[str, int]]) -> None:
        """Say, once, that rows for ``keys`` exist but were made with other options, so these
        inputs are solved again (the old rows stay in the file, with their options)."""
        stale = [self.stale[k] for k in keys if k in self.stale]
        if stale:
            log.warning(
                "%s: %d earlier row(s) for these inputs were %s; they stay in the file, and "
                "these inputs are solved again with the options given now",
                self.path,
                len(stale),
                stale[0],
            )

    def _append(self, data: bytes) -> None:
        self._fh.write(data)
        self._fh.flush()
        if self._regular:
            os.fsync(self._fh.fileno())

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (with the options) and make it durable before returning."""
        self._append((json.dumps({**row, "options": self.options}) + "\n").encode())

    def close(self) -> None:
        """Release the lock and close the file."""
        self._fh.close()

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
