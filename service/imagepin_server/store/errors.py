"""Exceptions raised by the store, independent of the database driver in use."""

from __future__ import annotations


class StoreError(Exception):
    """Base class for errors the store raises on purpose."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (refused, unreachable, dropped connection).

    Callers map this to a retryable "unavailable" answer; the message never contains
    a password from the database URL.
    """
