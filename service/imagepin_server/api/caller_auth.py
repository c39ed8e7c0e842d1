"""Who may call imagepin: a client certificate (mTLS), a bearer token, or both.

The TLS handshake already refuses a caller without a client certificate when a client CA is
configured; this interceptor checks, on every call, that the certificate is there (defence in
depth) and that the `authorization: Bearer …` metadata holds one of the tokens, answering
UNAUTHENTICATED with what was missing. Tokens come from a file (one per line, `#` comments),
re-read when it changes so they rotate without a restart, and are compared in constant time.
`grpc.health.v1.Health` stays open: Kubernetes probes carry no credentials.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final, TypeAlias

import grpc
from grpc.aio import ServicerContext

from imagepin_server import errors
from imagepin_server.api import status
from imagepin_server.filewatch import WatchedFile

log = logging.getLogger("imagepin.auth")

TOKEN_FILE_LIMIT: Final = 64 * 1024
OPEN_SERVICES: Final = ("/grpc.health.v1.Health/",)
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context = ServicerContext[Any, Any]


class TokenFile:
    """Bearer tokens from a file, re-read when it changes (inode, size or mtime)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # A bad read keeps the tokens we had: a half-written rotation must not lock everyone out.
        self._file: WatchedFile[tuple[bytes, ...]] = WatchedFile(
            path, _parse_tokens, initial=(), limit=TOKEN_FILE_LIMIT, log=log, what="token file"
        )
        if not self._file.current():
            raise ValueError(f"{path}: no tokens in it")

    def accepts(self, presented: str) -> bool:
        """True when `presented` is one of the tokens; every token is compared, in constant time."""
        candidate = presented.encode()
        matched = False
        for token in self._file.current():
            matched |= hmac.compare_digest(candidate, token)
        return matched


def _parse_tokens(data: bytes) -> tuple[bytes, ...]:
    """One token a line; blank lines and `#` comments are not tokens."""
    lines = (line.strip() for line in data.decode("utf-8").splitlines())
    return tuple(line.encode() for line in lines if line and not line.startswith("#"))


class CallerAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without the required client certificate or bearer token: UNAUTHENTICATED."""

    def __init__(self, *, tokens: TokenFile | None, require_client_cert: bool) -> None:
        self._tokens = tokens
        self._require_client_cert = require_client_cert

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
        return _guarded(handler, method, self._refusal)

    def _refusal(self, context: Context) -> str | None:
        """Why this call is not authenticated, or None when it is. Never quotes a credential."""
        if self._require_client_cert and not context.auth_context().get("x509_pem_cert"):
            return "imagepin requires a client certificate signed by its client CA"
        if self._tokens is None:
            return None
        header = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                header = value
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "imagepin requires a bearer token (authorization: Bearer <token>)"
        if not self._tokens.accepts(token.strip()):
            return "the bearer token is not accepted"
        return None


def _guarded(handler: Handler, method: str, refusal: Callable[[Context], str | None]) -> Handler:
    """The same handler, checking the caller first; one wrapper per RPC shape."""

    async def check(context: Context) -> None:
        problem = refusal(context)
        if problem is None:
            return
        log.warning("unauthenticated call", extra={"fields": {"method": method}})
        failure = status.failure_for(errors.Unauthenticated(problem))
        await context.abort(failure.code, failure.message, failure.trailing_metadata)

    kinds = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary: Any = handler.unary_unary  # async in grpc.aio; the stubs say sync

        async def unary_unary(request: Any, context: Context) -> Any:
            await check(context)
            return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kinds)
    if handler.stream_stream is not None:
        streaming: Any = handler.stream_stream

        async def stream_stream(requests: Any, context: Context) -> AsyncIterator[Any]:
            await check(context)
            async for response in streaming(requests, context):
                yield response

        return grpc.stream_stream_rpc_method_handler(stream_stream, **kinds)
    if handler.unary_stream is not None:
        server_streaming: Any = handler.unary_stream

        async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            await check(context)
            async for response in server_streaming(request, context):
                yield response

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kinds)
    assert handler.stream_unary is not None
    client_streaming: Any = handler.stream_unary

    async def stream_unary(requests: Any, context: Context) -> Any:
        await check(context)
        return await client_streaming(requests, context)

    return grpc.stream_unary_rpc_method_handler(stream_unary, **kinds)
