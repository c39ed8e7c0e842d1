"""Serving TLS from files that get rotated (cert-manager renews them in place).

Every handshake passes through the SNI callback, which swaps in a context loaded from the
current files; files are looked at most once a second and a half-written pair is ignored until
it loads.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from pathlib import Path

log = logging.getLogger("imagepin.webhook.tls")


class ReloadingCertificate:
    """A server SSLContext whose certificate follows `cert_file` and `key_file`."""

    def __init__(self, cert_file: Path, key_file: Path, check_interval_s: float = 1.0) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.check_interval_s = check_interval_s
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._current = self._load()
        self._checked = time.monotonic()
        self.context = self._load()
        self.context.sni_callback = self._on_hello

    def _file_stamp(self) -> tuple[tuple[int, int, int], ...]:
        stats = (os.stat(self.cert_file), os.stat(self.key_file))
        return tuple((s.st_ino, s.st_mtime_ns, s.st_size) for s in stats)

    def _load(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def current(self) -> ssl.SSLContext:
        """The context for the files as they are now (reloaded when they changed)."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= self.check_interval_s:
                self._checked = now
                self._reload_if_changed()
            return self._current

    def _reload_if_changed(self) -> None:
        try:
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            self._current = self._load()
            self._stamp = stamp
            log.info("reloaded the TLS certificate from %s", self.cert_file)
        except (OSError, ssl.SSLError) as error:  # mid-rotation: keep serving the old one
            log.warning("could not reload the TLS certificate: %s", error)

    def _on_hello(
        self, connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext
    ) -> None:
        connection.context = self.current()
