"""Segment grayscale micrographs (SEM, CT) into electrolyte (True) and everything else.

The pipeline is the usual one for a two-phase micrograph: crop away what is not sample (an SEM
information bar), denoise (median or non-local means), threshold (Otsu by default, bright =
electrolyte), then remove specks of either phase below a size. Every step works on 2D images
and on 3D volumes (z, y, x); for a volume, crop applies to the (y, x) of every slice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ._phases import (
    MAX_PHASES,
    PHASE_LOG,
    classify,
    electrolyte_warning,
    phase_census,
    phase_thresholds,
    remove_label_specks,
    too_many_thresholds,
)

__all__ = ["DENOISERS", "crop_image", "remove_specks", "segment"]

DENOISERS = ("median", "nlmeans")
_LUMA = np.array([0.2125, 0.7154, 0.0721])  # ITU-R BT.709, as skimage.color.rgb2gray

Crop = tuple[float, float, float, float]

log = logging.getLogger(__name__)


def _is_colour(arr: np.ndarray, colour: bool | None) -> bool:
    """Whether the trailing axis of ``arr`` holds RGB(A): as told, or guessed from the shape
    (a trailing 3 or 4 after two axes longer than 4, or any 4D array with one)."""
    if colour is not None:
        return colour and arr.ndim in (3, 4) and arr.shape[-1] in (3, 4)
    if arr.ndim == 3:
        return arr.shape[-1] in (3, 4) and arr.shape[0] > 4 and arr.shape[1] > 4
    return arr.ndim == 4 and arr.shape[-1] in (3, 4)


def _to_gray(arr: np.ndarray, colour: bool | None = None) -> np.ndarray:
    """Drop alpha and convert RGB(A) images (..., 3|4) to luminance; anything else as is.
    ``colour``: whether the trailing axis is colour (None: guessed, :func:`_is_colour`)."""
    if not _is_colour(arr, colour):
        return arr
    rgb = arr[..., :3]
    if np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]):
        return arr[..., 0]
    return rgb.astype(np.float64) @ _LUMA


def _crop_pixels(value: float, n: int, what: str, source: str | None) -> int:
    """One crop value -> pixels: floats in (0, 1) are a fraction of ``n``, others whole pixels."""
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise InputError(f"crop {what} must be >= 0, got {value}", source=source)
    if 0 < v < 1 and not isinstance(value, (int, np.integer)):
        return int(round(v * n))
    if v != int(v):
        raise InputError(
            f"crop {what} must be whole pixels or a fraction below 1, got {value}", source=source
        )
    return int(v)


def crop_image(
    arr: np.ndarray, crop: Crop | None, *, source: str | None = None, colour: bool | None = None
) -> np.ndarray:
    """Remove (top, bottom, left, right) from an image, or from every slice of a volume.

    Parameters
    ----------
    arr : ndarray, shape (ny, nx), (ny, nx, 3|4) or (nz, ny, nx)
        Image, colour image or volume.
    crop : 4 numbers or None
        Pixels to remove from each side; a float below 1 is a fraction of the height (top,
        bottom) or width (left, right), e.g. ``(0, 0.1, 0, 0)`` drops the bottom tenth.
    source : str, optional
        File name for error messages.
    colour : bool, optional
        Whether a trailing axis of 3 or 4 holds RGB(A) (else a 3D array is a volume); default:
        guessed, a trailing 3 or 4 after two axes longer than 4 is colour.

    Returns
    -------
    ndarray
        A view of ``arr`` without the cropped margins.
    """
    if crop is None:
        return arr
    if len(crop) != 4:
        raise InputError(
            f"crop needs 4 values (top, bottom, left, right), got {crop}", source=source
        )
    if arr.ndim == 2 or (arr.ndim == 3 and _is_colour(arr, colour)):
        ya, xa = 0, 1
    elif arr.ndim == 3:
        ya, xa = 1, 2
    else:
        raise InputError(f"cannot crop an array of shape {arr.shape}", source=source)
    ny, nx = arr.shape[ya], arr.shape[xa]
    names = ("top", "bottom", "left", "right")
    t, b, left, right = (
        _crop_pixels(v, ny if i < 2 else nx, names[i], source) for i, v in enumerate(crop)
    )
    if t + b >= ny or left + right >= nx:
        given = ", ".join(f"{float(v):g}" for v in crop)
        raise InputError(f"crop ({given}) removes the whole {ny}x{nx} image", source=source)
    index = [slice(None)] * arr.ndim
    index[ya] = slice(t, ny - b)
    index[xa] = slice(left, nx - right)
    return arr[tuple(index)]


def _denoise(gray: np.ndarray, method: str | None, source: str | None) -> np.ndarray:
    if method is None:
        return gray
    if min(gray.shape) < 3:  # a 3-pixel median, 5-pixel non-local-means patches
        raise InputError(
            f"image too small to denoise ({'x'.join(map(str, gray.shape))}): --denoise needs "
            "at least 3 pixels along every axis",
            source=source,
        )
    if method == "median":
        from skimage.filters import median

        # 3 pixels wide in every direction: removes salt-and-pepper noise and 1-pixel specks
        # but keeps straight edges where they are
        return median(gray, footprint=np.ones((3,) * gray.ndim, bool), mode="nearest")
    if method == "nlmeans":
        from skimage.restoration import denoise_nl_means, estimate_sigma

        g = gray.astype(np.float64)
        sigma = float(estimate_sigma(g))
        if sigma == 0:
            return g
        # h = 0.8 sigma with the noise variance subtracted (sigma=...): skimage's recommendation
        return denoise_nl_means(
            g,
            h=0.8 * sigma,
            sigma=sigma,
            patch_size=5,
            patch_distance=6,
            fast_mode=True,
            preserve_range=True,
        )
    raise InputError(
        f"unknown denoise method {method!r}; use one of {', '.join(DENOISERS)}", source=source
    )


def remove_specks(binary: np.ndarray, min_size: int) -> np.ndarray:
    """Remove islands of either phase smaller than ``min_size`` pixels (face connectivity).

    Electrolyte islands become active material and active-material islands (holes) become
    electrolyte. Connectivity is through faces (4 in 2D, 6 in 3D), as the current flows.

    Parameters
    ----------
    binary : ndarray of bool
        2D or 3D phases, True = electrolyte.
    min_size : int
        Islands smaller than this many pixels are flipped; 0 or less changes nothing.

    Returns
    -------
    ndarray of bool
        The cleaned phases, same shape.
    """
    out = np.asarray(binary, dtype=bool)
    if min_size <= 1:
        return out
    from skimage.morphology import remove_small_holes, remove_small_objects

    try:  # scikit-image >= 0.26: remove what is <= max_size
        out = remove_small_objects(out, max_size=min_size - 1, connectivity=1)
        return remove_small_holes(out, max_size=min_size - 1, connectivity=1)
    except TypeError:  # older scikit-image: remove what is < min_size
        out = remove_small_objects(out, min_size=min_size, connectivity=1)
        return remove_small_holes(out, area_threshold=min_size, connectivity=1)


def segment(
    gray: np.ndarray,
    *,
    crop: Crop | None = None,
    denoise: str | None = None,
    threshold: float | Sequence[float] | None = None,
    phases: int | None = None,
    conductive_phases: Sequence[int] | None = None,
    phase_names: Sequence[str] | None = None,
    invert: bool = False,
    min_size: int = 0,
    return_threshold: bool = False,
    source: str | None = None,
    colour: bool | None = None,
) -> np.ndarray | tuple[np.ndarray, Any]:
    """Segment a grayscale image or volume: True = electrolyte (bright, unless ``invert``).

    With ``phases`` > 2 (or several thresholds) the gray levels are cut into classes, darkest
    first (see :mod:`ionflow.io._phases`): ``conductive_phases`` picks the classes that conduct
    (a bool image, whichever gray level they have: no ``invert`` needed for a dark
    electrolyte); without it the classes come back as a label image (uint8, 0 = darkest) for
    per-phase conductivities. A thresholded result whose electrolyte looks like particles
    (isolated convex pieces while another phase spans the image) is logged as a warning.

    Parameters
    ----------
    gray : ndarray, shape (ny, nx), (ny, nx, 3|4) or (nz, ny, nx)
        Pixel values; colour images are converted to luminance.
    crop : 4 numbers, optional
        (top, bottom, left, right) removed first, in pixels or as fractions below 1 of the
        height/width; see :func:`crop_image`.
    denoise : {None, "median", "nlmeans"}
        A 3-pixel median filter, or non-local means with the noise level from
        ``skimage.restoration.estimate_sigma``.
    threshold : float or sequence of float, optional
        Pixels above it are electrolyte. Default: Otsu's threshold of the (denoised) image; an
        image with only two values is split between them. Several increasing values: the cuts
        between ``len(threshold) + 1`` phases.
    phases : int, optional
        Number of gray-level classes, 2 (default) to 5; more than 2 uses multi-level Otsu
        (``skimage.filters.threshold_multiotsu``) unless the cuts are given.
    conductive_phases : sequence of int, optional
        Classes (0 = darkest) that conduct; the result is then bool.
    phase_names : sequence of str, optional
        Names of the classes, darkest first, for messages.
    invert : bool
        Dark = electrolyte (two phases, without ``conductive_phases``).
    min_size : int
        Islands of either phase smaller than this many pixels are removed (0: keep all); in a
        label result, an island of any class takes the class of its nearest surroundings.
    return_threshold : bool
        Also return the threshold used (in the units of the denoised pixel values): a float
        for two phases, a tuple of the cuts otherwise.
    source : str, optional
        Name of the input, for error messages.
    colour : bool, optional
        Whether a trailing axis of 3 or 4 holds RGB(A) (see :func:`crop_image`).

    Returns
    -------
    binary : ndarray of bool (or uint8 classes), the shape of the cropped image
    threshold : float or tuple of float, only when ``return_threshold``
    """
    arr = np.asarray(gray)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind not in "iuf":  # complex, timedelta64 (a numpy "number"), strings ...
        raise InputError(f"unsupported pixel type {arr.dtype}", source=source)
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InputError("image contains NaN or infinite values", source=source)
    arr = crop_image(_to_gray(arr, colour), crop, source=source, colour=False)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise InputError(
            f"expected a 2D image or a 3D volume, got shape {arr.shape}", source=source
        )
    arr = _denoise(arr, denoise, source)
    cuts, phases = _cuts(threshold, phases, source)
    if phases > 2 or conductive_phases is not None:
        return _segment_phases(
            arr, cuts, phases, conductive_phases, phase_names, invert, min_size,
            return_threshold, source,
        )  # fmt: skip
    threshold = cuts[0] if cuts else None
    grayscale = threshold is not None  # a threshold was given: a grayscale image
    if threshold is None:
        values = np.unique(arr)
        grayscale = values.size > 2
        if grayscale:
            from skimage.filters import threshold_otsu

            threshold = float(threshold_otsu(arr))
        elif values.size == 2:
            threshold = float(values[0])  # a binary image: the brighter value is electrolyte
    if threshold is None:  # a uniform image: conductive unless it is zero
        out = arr != 0
        threshold = 0.0
    else:
        out = arr > threshold
    if invert:
        out = ~out
    out = remove_specks(out, int(min_size))
    if grayscale:
        hint = (
            "if the electrolyte is the other phase, add --invert (or give --phases N and "
            "--conductive-phase for an image with more phases)"
        )
        _warn_if_particles(out, [("the other phase", ~out)], source, hint)
    return (out, float(threshold)) if return_threshold else out


def _cuts(
    threshold: float | Sequence[float] | None, phases: int | None, source: str | None
) -> tuple[tuple[float, ...] | None, int]:
    """Given thresholds (None, one, or increasing cuts) and the number of phases they make."""
    cuts: tuple[float, ...] | None = None
    if isinstance(threshold, (Sequence, np.ndarray)):
        cuts = tuple(float(t) for t in threshold)
        if not cuts or any(b <= a for a, b in zip(cuts, cuts[1:])):
            raise InputError(f"thresholds must increase, got {list(cuts)}", source=source)
    elif threshold is not None:
        cuts = (float(threshold),)
    if phases is None and cuts is not None and len(cuts) > MAX_PHASES - 1:
        raise InputError(too_many_thresholds(len(cuts)), source=source)
    n = phases if phases is not None else (len(cuts) + 1 if cuts else 2)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= MAX_PHASES:
        raise InputError(f"--phases must be 2 to {MAX_PHASES}, got {phases}", source=source)
    if cuts is not None and len(cuts) != n - 1:
        raise InputError(
            f"{n} phases need {n - 1} threshold(s), got {len(cuts)}: {list(cuts)}", source=source
        )
    return cuts, int(n)


def _segment_phases(
    arr: np.ndarray,
    cuts: tuple[float, ...] | None,
    phases: int,
    conductive: Sequence[int] | None,
    names: Sequence[str] | None,
    invert: bool,
    min_size: int,
    return_threshold: bool,
    source: str | None,
) -> np.ndarray | tuple[np.ndarray, Any]:
    """:func:`segment` with gray-level classes (darkest first)."""
    if invert:
        raise InputError(
            "--invert does not apply to phases cut by gray level: name the phase that conducts "
            "(--conductive-phase)",
            source=source,
        )
    cuts = cuts if cuts is not None else phase_thresholds(arr, phases, source=source)
    classes = classify(arr, cuts)
    names = list(names) if names else [str(k) for k in range(phases)]
    if conductive is None:
        out = remove_label_specks(classes, int(min_size))
    else:
        chosen = sorted({int(k) for k in conductive})
        if not chosen or any(not 0 <= k < phases for k in chosen):
            raise InputError(
                f"conductive phases must be 0 to {phases - 1} (0 = darkest), got {list(conductive)}",
                source=source,
            )
        out = remove_specks(np.isin(classes, chosen), int(min_size))
        PHASE_LOG.info(
            "%s: phases by gray level, darkest first: %s; conducting: %s",
            source or "<array>",
            phase_census(classes, cuts, names),
            ", ".join(names[k] for k in chosen),
        )
        others = [(names[k], classes == k) for k in range(phases) if k not in chosen]
        _warn_if_particles(out, others, source, "check --conductive-phase")
    threshold: Any = cuts[0] if len(cuts) == 1 else tuple(cuts)
    return (out, threshold) if return_threshold else out


_CHECK_EDGE = 256  # a larger volume is checked on its central 256^3 block


def _warn_if_particles(
    electrolyte: np.ndarray,
    others: list[tuple[str, np.ndarray]],
    source: str | None,
    hint: str,
) -> None:
    """Log a warning when the phase taken as electrolyte looks like particles."""
    if electrolyte.ndim == 3 and max(electrolyte.shape) > _CHECK_EDGE:
        box = tuple(
            slice(max(0, (n - _CHECK_EDGE) // 2), max(0, (n - _CHECK_EDGE) // 2) + _CHECK_EDGE)
            for n in electrolyte.shape
        )
        electrolyte = electrolyte[box]
        others = [(name, mask[box]) for name, mask in others]
    why = electrolyte_warning(electrolyte, others)
    if why:
        log.warning("%s: %s; %s", source or "<array>", why, hint)
