"""Shared helpers of the benchmark scripts."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np

import ionflow


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    return (
        f"{cpu}, {os.cpu_count()} logical cores (OMP/MKL threads: {threads}), "
        f"Python {platform.python_version()}, NumPy {np.__version__}, ionflow "
        f"{ionflow.__version__}"
    )


def git_head() -> str:
    """The short commit hash of the repository these scripts belong to ("" outside git)."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout.strip()
