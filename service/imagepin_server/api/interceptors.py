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
from imagepin_server.api.access_log import CACHE_SOURCE, OK, AccessLog
from imagepin_server.api.fastpath import WarmAnswers

log = logging.getLogger("imagepin.rpc")  # the access log's own logger, for failures

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
    reflection pass).

    Wrapped handlers are made once per method and kept. With `warm`, a warm ResolveReference
    hit is answered at the top of the wrapper from its serialised bytes (api/fastpath.py).
    """

    def __init__(
        self,
        service_prefix: str,
        *,
        access_log: AccessLog | None = None,
        warm: WarmAnswers | None = None,
    ) -> None:
        self._prefix = service_prefix
        self._access_log = access_log or AccessLog()
        self._warm = warm
        self._handlers: dict[str, Handler | None] = {}
        self._tallies: list[metrics.Tally] = []  # the warm hits' counts, added in bulk

    def flush_metrics(self) -> None:
        """Add the warm hits counted since the last flush to their series (the server calls
        this every second and when it stops)."""
        for tally in self._tallies:
            tally.flush()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        try:
            return self._handlers[method]
        except KeyError:
            pass
        handler = await continuation(handler_call_details)
        if (
            handler is not None
            and handler.unary_stream is not None
            and method.startswith(self._prefix)
        ):
            wrapped_stream = grpc.unary_stream_rpc_method_handler(
                _wrap_stream(method.rsplit("/", 1)[-1], handler.unary_stream, self._access_log),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
            self._handlers[method] = wrapped_stream
            return wrapped_stream
        if handler is None or handler.unary_unary is None or not method.startswith(self._prefix):
            if handler is not None:
                self._handlers[method] = handler  # a known method: the lookup is fixed
            return handler
        name = method.rsplit("/", 1)[-1]
        serializer = handler.response_serializer
        warm = self._warm if name == "ResolveReference" else None
        tally = None
        if warm is not None:
            # A warm hit is an RPC answered OK and a tag-cache hit, timed like any other call.
            tally = metrics.Tally(
                [metrics.RPCS.labels(name, OK), metrics.CACHE_LOOKUPS.labels("tag", "hit")],
                metrics.RPC_LATENCY.labels(name),
            )
            self._tallies.append(tally)
        wrapped = grpc.unary_unary_rpc_method_handler(
            _wrap(name, cast(Behavior, handler.unary_unary), self._access_log, warm, tally),
            request_deserializer=handler.request_deserializer,
            response_serializer=_passing_bytes(serializer) if warm is not None else serializer,
        )
        self._handlers[method] = wrapped
        return wrapped


def _passing_bytes(serializer: Callable[[Any], bytes] | None) -> Callable[[Any], bytes]:
    """The method's serializer, letting already-serialised responses through as they are."""

    def serialize(response: Any) -> bytes:
        if isinstance(response, bytes):
            return response
        assert serializer is not None
        return serializer(response)

    return serialize


def _wrap(
    method: str,
    behavior: Behavior,
    access_log: AccessLog,
    warm: WarmAnswers | None,
    tally: metrics.Tally | None,
) -> Behavior:
    """The handler with its deadline, error mapping, metrics and log line; with `warm` (and
    its `tally`), warm hits first."""
    latency = metrics.RPC_LATENCY.labels(method)  # children bound once, not per call
    counted: dict[str, Any] = {}

    def count(code: str) -> None:
        child = counted.get(code)
        if child is None:
            child = counted[code] = metrics.RPCS.labels(method, code)
        child.inc()

    async def handle(request: Any, context: ServicerContext[Any, Any]) -> Any:
        started = time.perf_counter()
        if warm is not None:
            hit = warm.lookup(request)
            if hit is not None:
                assert tally is not None  # made with `warm`
                body, entry = hit
                elapsed = time.perf_counter() - started
                tally.add(elapsed)
                if access_log.sample_hit():
                    access_log.write(
                        method,
                        {
                            "method": method,
                            "reference": redact(request.reference[:300]),
                            "registry": entry.registry,
                            "source": CACHE_SOURCE,
                            "digest": entry.digest,
                            "code": OK,
                            "latency_ms": round(elapsed * 1000, 2),
                        },
                    )
                return body
        fields: dict[str, object] = {"method": method}
        reference = getattr(request, "reference", "")
        if reference:
            fields["reference"] = redact(reference[:300])
        rpc_log_fields.set(fields)
        remaining = context.time_remaining()
        deadlines.set_remaining(remaining)  # for retries below; the context is this RPC's own
        failure: status.RpcFailure | None = None
        try:
            async with asyncio.timeout(remaining):
                response = await behavior(request, context)
            digest = getattr(response, "digest", "")
            if digest:
                fields.setdefault("digest", digest)
            fields["code"] = OK
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
            elapsed = _settle(fields, started, failure)
            count(str(fields["code"]))
            latency.observe(elapsed)
            if access_log.wanted(fields):
                access_log.write(method, fields)
        assert failure is not None
        await context.abort(failure.code, failure.message, failure.trailing_metadata)
        return None  # not reached: abort raises

    return handle


def _wrap_stream(method: str, behavior: Any, access_log: AccessLog) -> Any:
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
            fields["code"] = OK
        except errors.ImagepinError as exc:
            failure = status.failure_for(exc)
            fields.update({key: redact(value) for key, value in exc.metadata().items()})
            fields["reason"] = exc.reason
        except Exception:
            log.exception("unexpected failure in %s", method, extra={"fields": fields})
            failure = status.internal_failure()
        finally:
            fields["messages"] = sent
            _settle(fields, started, failure)
            metrics.RPCS.labels(method, str(fields["code"])).inc()
            if access_log.wanted(fields):
                access_log.write(method, fields)
        if failure is not None:
            await context.abort(failure.code, failure.message, failure.trailing_metadata)

    return handle


def _settle(fields: dict[str, object], started: float, failure: status.RpcFailure | None) -> float:
    """Close the RPC's log fields (latency, code: CANCELLED when the caller went away, error);
    returns the seconds it took."""
    elapsed = time.perf_counter() - started
    fields["latency_ms"] = round(elapsed * 1000, 2)
    if failure is not None:
        fields["code"] = failure.code.name
        fields["error"] = redact(failure.message)
    fields.setdefault("code", grpc.StatusCode.CANCELLED.name)
    return elapsed
