"""Serve the app with uvicorn on 127.0.0.1, and the ``ionflow app`` command."""

from __future__ import annotations

import argparse
import errno
import importlib.util
import socket
from collections.abc import Callable

from ..errors import IonflowError
from ._config import HOST, AppConfig

__all__ = ["add_app_command", "serve"]

_NEEDS = ("fastapi", "uvicorn", "multipart")


def _check_installed() -> None:
    missing = [m for m in _NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        names = ", ".join("python-multipart" if m == "multipart" else m for m in missing)
        raise IonflowError(f"ionflow app needs {names}: pip install 'ionflow[app]'")


def serve(
    config: AppConfig | None = None,
    *,
    on_ready: Callable[[str], None] | None = None,
    open_browser: bool = False,
) -> None:
    """Serve the app on ``http://127.0.0.1:<port>/`` until interrupted.

    ``on_ready(url)`` is called once the port is bound (with the real port when
    ``config.port`` is 0); ``open_browser`` then opens the page in the default browser.
    """
    _check_installed()
    import uvicorn

    from ._server import create_app

    config = config or AppConfig()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, config.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise IonflowError(
                f"port {config.port} is in use; choose another with --port N (0: any free port)"
            ) from None
        raise IonflowError(f"cannot listen on {HOST}:{config.port} ({exc.strerror})") from None
    sock.listen(64)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), log_level="warning", access_log=False)
    )
    if on_ready is not None:
        on_ready(url)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def add_app_command(sub) -> None:
    """Register ``ionflow app`` on the CLI's subparsers."""
    p = sub.add_parser(
        "app",
        help="a local web page: drop an image, check the segmentation, solve, download",
        description="Serve a web page on 127.0.0.1 (this computer only) to upload an image or "
        "volume, adjust its segmentation, run the exact solve and the surrogate, see the maps "
        "and download the results. Needs: pip install 'ionflow[app]'.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--port", type=int, default=AppConfig.port, help="port (0: any free port)")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=AppConfig.max_upload_mb,
        help="largest file accepted, in MB",
    )
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(func=cmd_app)


def cmd_app(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise IonflowError(f"--port must be 0..65535, got {args.port}")
    if not args.max_upload_mb > 0:
        raise IonflowError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    config = AppConfig(port=args.port, max_upload_mb=args.max_upload_mb)

    def ready(url: str) -> None:
        print(f"ionflow app: serving on {url} (this computer only; Ctrl+C to stop)", flush=True)

    try:
        serve(config, on_ready=ready, open_browser=args.open)
    except KeyboardInterrupt:
        pass
    return 0
