"""From what a user typed to a list of files, with a message for what gives none."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["find_inputs", "same_stems"]


def find_inputs(paths: list[str | os.PathLike]) -> tuple[list[str], list[str]]:
    """:func:`~ionflow.io.expand_paths`, and one message per folder without an image file.

    Parameters
    ----------
    paths : list of str or path-like
        Files, folders and glob patterns, in the order given.

    Returns
    -------
    files : list of str
        Every file, in the order given (a folder's image files sorted).
    problems : list of str
        ``"<folder>: no image files (...)"`` for each folder that gave none, so that an empty
        folder is an error a person sees, not a silent success.
    """
    from ._read import IMAGE_SUFFIXES, expand_paths

    files: list[str] = []
    problems: list[str] = []
    for p in paths:
        found = expand_paths([p])
        if not found and os.path.isdir(p):
            problems.append(f"{p}: no image files ({' '.join(IMAGE_SUFFIXES)}) in this folder")
        files += found
    return files, problems


def same_stems(files: list[str]) -> dict[str, str]:
    """Files whose name stem an earlier file already has: ``{later: earlier}``.

    Outputs named ``<stem>_...`` (``segment``, ``simulate --fields``) would overwrite each
    other; the callers refuse the later file rather than lose one silently.

    Parameters
    ----------
    files : list of str
        Files in input order.

    Returns
    -------
    dict
        ``{later file: earlier file with the same stem}``; empty when all stems differ.
    """
    first: dict[str, str] = {}
    clashes: dict[str, str] = {}
    for f in files:
        stem = Path(f).stem
        if stem in first and os.path.abspath(first[stem]) != os.path.abspath(f):
            clashes[f] = first[stem]
        first.setdefault(stem, f)
    return clashes
