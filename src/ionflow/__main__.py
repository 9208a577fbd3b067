"""``python -m ionflow`` and the ``ionflow`` command: :func:`ionflow.cli.main`.

Ctrl-C while the command-line interface is still being imported (its first ~40 ms) gets the
same one line and exit status 130 as Ctrl-C later, not a traceback of the import.
"""

from __future__ import annotations

import signal
import sys


def main() -> int:
    """Import the CLI and run the command line's command; returns the exit status."""
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no traceback either
        sys.stderr.write("ionflow: error: interrupted\n")
        return 130
    return run()


if __name__ == "__main__":
    sys.exit(main())
