"""Exceptions raised by the store, independent of the database driver in use."""

from __future__ import annotations


class StoreError(Exception):
    """Base class for errors the store raises on purpose."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (refused, unreachable, dropped connection).

    Callers map this to a retryable "unavailable" answer; the message never contains
    a password from the database URL.
    """


class StoreFailed(StoreError):
    """The database answered with an error: read-only, disk full, a value it refuses, a bug.

    Not retryable as "unavailable", but still the store's failure, so callers that treat
    writes as best effort (caches, the layer index, queued observations) handle it with the
    rest instead of failing a request the registry already answered.
    """


class ContentRejected(StoreError, ValueError):
    """Content the cache will not store: not a sha256/sha512 digest, unknown kind, too large.

    A :class:`StoreError` (callers treating cache writes as best effort catch it with the
    rest) and a :class:`ValueError` (it is the caller's argument that is wrong).
    """
