"""The caller's deadline, visible to code far below the RPC that set it.

The gRPC layer knows when the caller gives up; the registry client decides whether a retry, or a
registry's `Retry-After`, still fits. A context variable carries the deadline between them
without threading a parameter through every use case (tasks copy it when they are created).
"""

from __future__ import annotations

import contextvars
import time

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "imagepin_deadline", default=None
)


def set_remaining(seconds: float | None) -> contextvars.Token[float | None]:
    """Start a deadline `seconds` from now (None: no deadline) for this context."""
    return _deadline.set(None if seconds is None else time.monotonic() + seconds)


def reset(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the caller's deadline, or None when the caller set none."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
