"""Long work off the request threads: a job id the page polls for progress."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import IonflowError

__all__ = ["Job", "JobStore"]

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One piece of work and where it stands.

    ``state`` goes queued -> running -> done | error. ``step`` of ``total`` steps are done;
    ``message`` says what runs now. ``error`` is a message for people (an
    :class:`~ionflow.InputError`'s) or names an unexpected failure.
    """

    id: str
    upload_id: str
    state: str = "queued"
    step: int = 0
    total: int = 1
    message: str = "waiting for the previous job"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: Any = None

    def progress(self, step: int, total: int, message: str) -> None:
        self.step, self.total, self.message = step, max(total, 1), message

    def to_dict(self) -> dict[str, Any]:
        now = self.finished or time.time()
        return {
            "id": self.id,
            "upload_id": self.upload_id,
            "state": self.state,
            "step": self.step,
            "total": self.total,
            "message": self.message,
            "elapsed": round(now - (self.started or now), 3),
            "error": self.error,
        }


class JobStore:
    """Runs jobs on ``workers`` threads (solves release the GIL in NumPy/SciPy) and keeps the
    last ``keep`` of them; older finished jobs (and their fields) are forgotten."""

    def __init__(self, *, workers: int = 1, keep: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ionflow-app")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def submit(self, upload_id: str, work: Callable[[Callable[[int, int, str], None]], Any]) -> Job:
        """Queue ``work(progress)``; its return value becomes the job's result."""
        job = Job(id=secrets.token_hex(8), upload_id=upload_id)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                oldest = next(iter(self._jobs.values()))
                if oldest.state in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, work)
        return job

    @staticmethod
    def _run(job: Job, work) -> None:
        job.state, job.started, job.message = "running", time.time(), "starting"
        try:
            job.result = work(job.progress)
            job.state = "done"
        except IonflowError as exc:
            job.error, job.state = str(exc), "error"
        except Exception as exc:  # noqa: BLE001 - the server keeps serving; the page says why
            log.exception("job %s failed", job.id)
            job.error, job.state = f"unexpected error: {type(exc).__name__}: {exc}", "error"
        finally:
            job.finished = time.time()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
