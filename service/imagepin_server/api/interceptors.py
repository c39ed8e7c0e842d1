"""Applied to every RPC: the caller's deadline, the error->status mapping, one log line.

Servicers stay thin: they raise domain errors and add facts to `rpc_log_fields`; this module
turns those into a status with an ErrorInfo detail and a structured log line carrying the
method, reference, registry, digest, outcome and latency.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, cast

import grpc
from grpc.aio import ServicerContext

from imagepin_server import deadlines, errors, metrics
from imagepin_server.api import status

log = logging.getLogger("imagepin.rpc")

rpc_log_fields: contextvars.ContextVar[dict[str, object]] = contextvars.ContextVar("rpc_log_fields")

Behavior = Callable[[Any, ServicerContext[Any, Any]], Awaitable[Any]]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


# `user:secret@host/…` is no valid reference, but a caller may still send one: never log the
# part before the "@". (`name:tag@sha256:…` is a reference: an "@" before a digest stays.)
_USERINFO = re.compile(r"[^\s/@\"']+:[^\s/@\"']+@(?![a-z0-9]+:[0-9a-f]{32,})")


def redact(text: str) -> str:
    """Text for the log, with anything shaped like `user:password@` masked."""
    return _USERINFO.sub("***@", text)


def note(**fields: object) -> None:
    """Add facts (registry, digest…) to the current RPC's log line."""
    current = rpc_log_fields.get(None)
    if current is not None:
        current.update({key: value for key, value in fields.items() if value})


class RpcInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary-unary and server-streaming handler of our own services (health and
    reflection pass)."""

    def __init__(self, service_prefix: str) -> None:
        self._prefix = service_prefix

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(self._prefix):
            return handler
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(method.rsplit("/", 1)[-1], handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _wrap(method.rsplit("/", 1)[-1], cast(Behavior, handler.unary_unary)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _wrap(method: str, behavior: Behavior) -> Behavior:
    async def handle(request: Any, context: ServicerContext[Any, Any]) -> Any:
        fields: dict[str, object] = {"method": method}
        reference = getattr(request, "reference", "")
        if reference:
            fields["reference"] = redact(reference[:300])
        rpc_log_fields.set(fields)
        started = time.perf_counter()
        remaining = context.time_remaining()
        deadlines.set_remaining(remaining)  # for retries below; the context is this RPC's own
        failure: status.RpcFailure | None = None
        try:
            async with asyncio.timeout(remaining):
                response = await behavior(request, context)
            digest = getattr(response, "digest", "")
            if digest:
                fields.setdefault("digest", digest)
            fields["code"] = grpc.StatusCode.OK.name
            return response
        except errors.ImagepinError as exc:
            failure = status.failure_for(exc)
            fields.update({key: redact(value) for key, value in exc.metadata().items()})
            fields["reason"] = exc.reason
        except TimeoutError:
            failure = status.deadline_failure(remaining)
        except Exception:
            log.exception("unexpected failure in %s", method, extra={"fields": fields})
            failure = status.internal_failure()
        finally:
            _finish(method, fields, started, failure)
            metrics.RPC_LATENCY.labels(method).observe(time.perf_counter() - started)
        assert failure is not None
        await context.abort(failure.code, failure.message, failure.trailing_metadata)
        return None  # not reached: abort raises

    return handle


def _wrap_stream(method: str, behavior: Any) -> Any:
    """The same mapping for a server-streaming RPC: errors become their status, and one log
    line is written when the stream ends (with how many messages were sent)."""

    async def handle(request: Any, context: ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        fields: dict[str, object] = {"method": method}
        rpc_log_fields.set(fields)
        started = time.perf_counter()
        failure: status.RpcFailure | None = None
        sent = 0
        try:
            async for response in behavior(request, context):
                sent += 1
                yield response
            fields["code"] = grpc.StatusCode.OK.name
        except errors.ImagepinError as exc:
            failure = status.failure_for(exc)
            fields.update({key: redact(value) for key, value in exc.metadata().items()})
            fields["reason"] = exc.reason
        except Exception:
            log.exception("unexpected failure in %s", method, extra={"fields": fields})
            failure = status.internal_failure()
        finally:
            fields["messages"] = sent
            _finish(method, fields, started, failure)
        if failure is not None:
            await context.abort(failure.code, failure.message, failure.trailing_metadata)

    return handle


def _finish(
    method: str, fields: dict[str, object], started: float, failure: status.RpcFailure | None
) -> None:
    """The RPC's one log line and its count by code (CANCELLED when the caller went away)."""
    fields["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    if failure is not None:
        fields["code"] = failure.code.name
        fields["error"] = redact(failure.message)
    fields.setdefault("code", grpc.StatusCode.CANCELLED.name)
    metrics.RPCS.labels(method, fields["code"]).inc()
    log.info("rpc %s %s", method, fields["code"], extra={"fields": fields})
