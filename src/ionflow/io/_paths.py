"""From what a user typed to a list of files, with a message for what gives none."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["find_inputs", "same_stems", "short_names"]


def find_inputs(
    paths: list[str | os.PathLike], *, stacks: bool = False
) -> tuple[list[str], list[str]]:
    """:func:`~ionflow.io.expand_paths`, and one message per folder without an image file.

    Parameters
    ----------
    paths : list of str or path-like
        Files, folders and glob patterns, in the order given.
    stacks : bool
        Each folder is one input: a volume of its 2D slices (``--stack``; reading it stacks
        them, :func:`~ionflow.io.slice_files`), not a batch of its files.

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
        if stacks and os.path.isdir(p):
            files.append(str(p))  # reading it says what is wrong with it, if anything
            continue
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


def short_names(files: list[str]) -> dict[str, str]:
    """The shortest end of each path that no other file shares, for tables.

    ``a/run1/x.png`` and ``b/run2/x.png`` become ``run1/x.png`` and ``run2/x.png``; a file
    whose name is unique keeps only its name. Paths are compared absolute, so the same file
    named twice gets one name.

    Parameters
    ----------
    files : list of str
        File paths as given.

    Returns
    -------
    dict
        ``{file: shortest unique path suffix}`` (components joined with ``/``).
    """
    parts = {f: Path(os.path.abspath(f)).parts for f in dict.fromkeys(files)}
    out: dict[str, str] = {}
    todo = list(parts)
    k = 1
    while todo:
        owners: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
        for f in todo:
            owners.setdefault(parts[f][-k:], set()).add(parts[f])
        left = []
        for f in todo:
            tail = parts[f][-k:]
            if len(owners[tail]) == 1 or k >= len(parts[f]):
                out[f] = "/".join(p for p in tail if p != os.sep) or f
            else:
                left.append(f)
        todo, k = left, k + 1
    return out
