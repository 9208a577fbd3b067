"""Settings of the local web app."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HOST", "AppConfig"]

HOST = "127.0.0.1"
"""The app listens on the loopback interface only: nothing is exposed to the network."""


@dataclass(frozen=True)
class AppConfig:
    """Settings of ``ionflow app``.

    Attributes
    ----------
    port : int
        TCP port on 127.0.0.1 (0: any free port).
    max_upload_mb : float
        Largest file accepted, in MB (10^6 bytes); larger uploads get HTTP 413.
    keep_uploads, keep_jobs : int
        How many uploads (files on disk) and finished jobs (results and fields in memory) the
        server keeps; older ones are forgotten.
    workers : int
        Jobs run at the same time (each solve uses the cores NumPy/SciPy give it).
    """

    port: int = 8765
    max_upload_mb: float = 100.0
    keep_uploads: int = 16
    keep_jobs: int = 16
    workers: int = 1

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1e6)
