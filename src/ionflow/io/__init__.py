"""Read and write images, volumes and fields (no torch)."""

from ._read import IMAGE_SUFFIXES, expand_paths, read_array, read_image, to_phases
from ._write import write_image

__all__ = ["IMAGE_SUFFIXES", "expand_paths", "read_array", "read_image", "to_phases", "write_image"]
