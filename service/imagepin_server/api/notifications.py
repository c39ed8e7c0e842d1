"""Registry notifications: ``POST /notifications/distribution`` with the CNCF distribution
registry's event envelopes, taken as hints for the tag watcher.

Served with the standard library's asyncio streams. The server has no HTTP server library among
its dependencies (httpx is a client; the webhook's server lives in the client distribution's
extras, which the server must not need), one route does not justify adding one, and the
registry's notifier (Go's net/http) sends a plain HTTP/1.1 POST with a Content-Length. So: one
request per connection, the head and the body bounded, the whole read under a time limit.

Only a request with ``Authorization: Bearer <token>`` naming a token of the tokens file gets
past the door (401 otherwise, before the body is read); an accepted envelope is 200 at once,
and each push event for a tag is handed to the watcher, which confirms it with the registry
before anything is recorded (notifications can be lost, reordered, replayed or forged).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import urlsplit

from imagepin_server import errors, mediatypes, metrics
from imagepin_server.api.caller_auth import TokenFile
from imagepin_server.api.convert import parse_reference
from imagepin_server.core import TagWatcher
from imagepin_server.digests import Digest, InvalidDigest
from imagepin_server.reference import Reference

log = logging.getLogger("imagepin.notifications")

PATH: Final = "/notifications/distribution"
MAX_HEAD_BYTES: Final = 16 * 1024
MAX_BODY_BYTES: Final = 1024 * 1024  # distribution sends one event, or a few, per envelope
MAX_EVENTS: Final = 100  # events taken from one envelope; the rest are ignored
READ_TIMEOUT_S: Final = 10.0
WRITE_TIMEOUT_S: Final = 5.0


class NotAnEnvelope(ValueError):
    """The body is not a notification envelope (answered 400)."""


@dataclass(frozen=True, slots=True)
class PushEvent:
    """A registry's claim that it pushed `digest` to `reference`'s tag; a hint, never truth."""

    reference: Reference
    digest: Digest


def push_events(body: bytes) -> list[PushEvent]:
    """The manifest pushes to a tag in an envelope; other events (pulls, blob pushes, deletes,
    events without a tag) are skipped. NotAnEnvelope when the body is not an envelope."""
    try:
        envelope = json.loads(body)
    except ValueError as exc:  # bad JSON, or bytes that are not UTF-8
        raise NotAnEnvelope(f"not JSON: {exc}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("events"), list):
        raise NotAnEnvelope('an envelope is a JSON object with an "events" list')
    found: list[PushEvent] = []
    for event in envelope["events"][:MAX_EVENTS]:
        push = _push_event(event)
        if push is not None:
            found.append(push)
    return found


def _push_event(event: Any) -> PushEvent | None:
    if not isinstance(event, dict) or event.get("action") != "push":
        return None
    target, request = event.get("target"), event.get("request")
    if not isinstance(target, dict):
        return None
    tag, repository = target.get("tag"), target.get("repository")
    media_type, digest_text = target.get("mediaType"), target.get("digest")
    if not all(isinstance(v, str) and v for v in (tag, repository, media_type, digest_text)):
        return None
    if not mediatypes.is_manifest(str(media_type)):
        return None
    # The registry's name as its clients use it: the Host they pushed to, else the URL's.
    host = request.get("host") if isinstance(request, dict) else None
    if not isinstance(host, str) or not host:
        url = target.get("url")
        host = urlsplit(url).netloc if isinstance(url, str) else ""
    if not host:
        return None
    try:
        digest = Digest.parse(str(digest_text))
        ref = parse_reference(f"{host}/{repository}:{tag}")
    except (InvalidDigest, errors.BadReference):
        return None
    if ref.digest or ref.tag != tag:
        return None
    return PushEvent(ref, digest)


class NotificationListener:
    """The HTTP endpoint registries notify; hands confirmed-later hints to the watcher."""

    def __init__(
        self, listen: str, tokens: TokenFile, watcher: TagWatcher, *, reuse_port: bool = False
    ) -> None:
        host, _, port = listen.rpartition(":")
        self._host, self._port = host.strip("[]"), int(port)
        self._tokens = tokens
        self._watcher = watcher
        self._reuse_port = reuse_port
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._serve,
            self._host,
            self._port,
            limit=MAX_HEAD_BYTES,
            reuse_port=self._reuse_port or None,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("notifications listening", extra={"fields": {"port": self.port}})
        return self.port

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(READ_TIMEOUT_S):
                    status, message = await self._answer(reader)
            except TimeoutError:
                status, message = HTTPStatus.REQUEST_TIMEOUT, "the request took too long"
            except (asyncio.LimitOverrunError, ValueError):
                status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                message = f"the request head is larger than {MAX_HEAD_BYTES} bytes"
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            await self._respond(writer, status, message)
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[HTTPStatus, str]:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, _, rest = request_line.partition(" ")
        target = rest.rpartition(" ")[0]
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if urlsplit(target).path != PATH:
            return HTTPStatus.NOT_FOUND, f"notifications are accepted at {PATH}"
        if method != "POST":
            return HTTPStatus.METHOD_NOT_ALLOWED, "notifications are POSTed"
        if not self._authorized(headers.get("authorization", "")):
            metrics.NOTIFICATIONS.labels("refused").inc()
            log.warning("notification refused: no accepted bearer token")
            return HTTPStatus.UNAUTHORIZED, "a bearer token of the notifications tokens file"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return HTTPStatus.LENGTH_REQUIRED, "send the envelope with a Content-Length"
        length_text = headers.get("content-length", "")
        if not length_text.isdigit():
            return HTTPStatus.LENGTH_REQUIRED, "send the envelope with a Content-Length"
        if int(length_text) > MAX_BODY_BYTES:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY_BYTES} bytes"
        content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != mediatypes.DISTRIBUTION_EVENTS:
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"send {mediatypes.DISTRIBUTION_EVENTS}"
        body = await reader.readexactly(int(length_text))
        try:
            pushes = push_events(body)
        except NotAnEnvelope:
            return HTTPStatus.BAD_REQUEST, "not a notification envelope"
        for push in pushes:
            taken = self._watcher.push_hint(push.reference, push.digest)
            metrics.NOTIFICATIONS.labels("confirming" if taken else "ignored").inc()
        return HTTPStatus.OK, "accepted"

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        return (
            scheme.lower() == "bearer"
            and bool(token.strip())
            and self._tokens.accepts(token.strip())
        )

    async def _respond(
        self, writer: asyncio.StreamWriter, status: HTTPStatus, message: str
    ) -> None:
        body = (json.dumps({"status": status.value, "message": message}) + "\n").encode()
        lines = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            f"Content-Type: {mediatypes.JSON}",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        if status is HTTPStatus.UNAUTHORIZED:
            lines.append('WWW-Authenticate: Bearer realm="imagepin notifications"')
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await writer.drain()
        except (ConnectionError, TimeoutError):
            pass
