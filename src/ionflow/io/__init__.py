"""Read and write images, volumes and fields; segment grayscale micrographs (no torch).

Reads PNG, BMP, JPEG, GIF, TIFF (Fiji/ImageJ, OME, FEI; stacks, every common compression and
bit depth), NumPy ``.npy`` (never unpickled), MetaImage (``.mhd`` + ``.raw``, ``.mha``) and
AmiraMesh (``.am``) files, and folders of 2D slices as volumes.
"""

from ._fields import DEFAULT_FIELD_FORMATS, FIELD_FORMATS, check_field_formats, write_fields
from ._options import ReadOptions
from ._paths import find_inputs, same_stems, short_names
from ._phases import MAX_PHASES, phase_thresholds
from ._read import (
    IMAGE_SUFFIXES,
    expand_paths,
    read_array,
    read_gray,
    read_image,
    slice_files,
    to_phases,
)
from ._segment import DENOISERS, crop_image, remove_specks, segment
from ._units import pixel_sizes, read_pixel_size
from ._write import output_folder, write_image

__all__ = [
    "DEFAULT_FIELD_FORMATS",
    "DENOISERS",
    "FIELD_FORMATS",
    "IMAGE_SUFFIXES",
    "MAX_PHASES",
    "ReadOptions",
    "check_field_formats",
    "crop_image",
    "expand_paths",
    "find_inputs",
    "output_folder",
    "phase_thresholds",
    "read_array",
    "read_gray",
    "read_image",
    "slice_files",
    "pixel_sizes",
    "read_pixel_size",
    "remove_specks",
    "same_stems",
    "segment",
    "short_names",
    "to_phases",
    "write_fields",
    "write_image",
]
