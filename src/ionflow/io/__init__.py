"""Read and write images, volumes and fields; segment grayscale micrographs (no torch)."""

from ._options import ReadOptions
from ._paths import find_inputs, same_stems
from ._read import IMAGE_SUFFIXES, expand_paths, read_array, read_gray, read_image, to_phases
from ._segment import DENOISERS, crop_image, remove_specks, segment
from ._units import pixel_sizes, read_pixel_size
from ._write import write_image

__all__ = [
    "DENOISERS",
    "IMAGE_SUFFIXES",
    "ReadOptions",
    "crop_image",
    "expand_paths",
    "find_inputs",
    "read_array",
    "read_gray",
    "read_image",
    "pixel_sizes",
    "read_pixel_size",
    "remove_specks",
    "same_stems",
    "segment",
    "to_phases",
    "write_image",
]
