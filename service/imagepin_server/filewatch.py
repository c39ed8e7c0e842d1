"""One file watcher: a file's parsed content, read again whenever the file changes.

Bearer tokens (api/caller_auth.py), Docker configs and mounted pull secrets
(registry/credentials.py) rotate without a restart. A change is seen by comparing inode, size
and nanosecond mtime, so an in-place rewrite and the atomic symlink swap Kubernetes does when it
updates a mounted secret are both caught, on the next `current()`, without a thread or a timer.
A bad read (too large, unreadable, not parsable: a half-written rotation) keeps the last good
content and logs the file and the kind of failure, never the content: it may hold secrets.

A leaf: anything may use it; it imports nothing of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

_Stamp = tuple[int, int, int]  # (inode, size, mtime in ns)


class WatchedFile(Generic[T]):
    """`parse(bytes)` of the file at `path`, kept until the file changes.

    `parse` raises ValueError (UnicodeDecodeError is one) or RecursionError for content it
    cannot use. Until a first good read, `current()` is `initial`. A file that is not there is
    `absent` when one is given (a removed Docker config means no credentials); without one it
    is a bad read like any other (a token file briefly missing must not lock everyone out).
    """

    def __init__(
        self,
        path: Path,
        parse: Callable[[bytes], T],
        *,
        initial: T,
        limit: int,
        log: logging.Logger,
        what: str,
        absent: Callable[[], T] | None = None,
    ) -> None:
        self.path = path
        self._parse = parse
        self._limit = limit
        self._log = log
        self._what = what
        self._absent = absent
        self._stamp: _Stamp | None = None
        self._content = initial

    def current(self) -> T:
        """The content as of now: read again only when the file changed since the last read."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if self._absent is not None:
                self._stamp, self._content = None, self._absent()
                return self._content
            self._warn("it is not there")
            return self._content
        except OSError as exc:
            self._warn(type(exc).__name__)
            return self._content
        stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if stamp == self._stamp:
            return self._content
        try:
            if stat.st_size > self._limit:
                raise ValueError(f"larger than {self._limit} bytes")
            with self.path.open("rb") as file:
                data = file.read(self._limit + 1)
            if len(data) > self._limit:  # grew since the stat
                raise ValueError(f"larger than {self._limit} bytes")
            content = self._parse(data)
        except (OSError, ValueError, RecursionError) as exc:
            # The stamp is kept too: the same bad file is not read (nor logged) again and again.
            self._stamp = stamp
            self._warn(type(exc).__name__)
            return self._content
        self._stamp, self._content = stamp, content
        return content

    def _warn(self, why: str) -> None:
        self._log.warning(
            "ignoring unreadable %s %s (%s); keeping what it said before",
            self._what,
            self.path,
            why,
        )
