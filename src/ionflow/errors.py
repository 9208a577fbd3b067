"""Exceptions whose messages are written for people.

Every error a user can cause (a missing file, an unreadable image, a wrong shape) raises
:class:`InputError` with a message that names the input and what is wrong with it. The CLI
prints that message on one line and exits non-zero; nothing else in ionflow catches it.
"""

from __future__ import annotations

__all__ = ["InputError", "IonflowError", "NotConvergedError", "ResourceError"]


class IonflowError(Exception):
    """Base class of every ionflow error."""


class InputError(IonflowError, ValueError):
    """An input (file, array or option) that ionflow cannot use.

    Parameters
    ----------
    message
        What is wrong, in words a user understands.
    source
        The file (or other input) the problem belongs to; prefixed to the message.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        self.reason = message
        super().__init__(f"{source}: {message}" if source else message)


class ResourceError(IonflowError, MemoryError):
    """A job that would need more memory (or other resources) than the machine has."""


class NotConvergedError(IonflowError):
    """An iterative solve that stopped short of the requested accuracy: at its iteration
    limit, or early because it was converging too slowly to get there."""
