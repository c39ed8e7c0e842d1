"""The webhook's HTTPS server: AdmissionReviews in, one batch call to the service per review."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import web

from imagepin.aio import AsyncResolverClient
from imagepin.connection import Connection
from imagepin.errors import ImagepinError
from imagepin.messages import resolve_request
from imagepin.pin.references import pin_reference
from imagepin.webhook import review, signatures
from imagepin.webhook.policy import Settings, decide
from imagepin.webhook.rollout import rollout_key
from imagepin.webhook.tls import ReloadingCertificate

log = logging.getLogger("imagepin.webhook")

CLIENT: Final = web.AppKey("client", AsyncResolverClient)
SETTINGS: Final = web.AppKey("settings", Settings)
MAX_REVIEW_BYTES: Final = 8 * 1024 * 1024  # a Pod is far smaller; the API server caps at 3 MiB


def make_app(settings: Settings, connection: Connection) -> web.Application:
    """The aiohttp application: POST /mutate, GET /healthz."""
    app = web.Application(client_max_size=MAX_REVIEW_BYTES)
    app[SETTINGS] = settings

    async def service_client(app: web.Application) -> AsyncIterator[None]:
        # gRPC asyncio channels belong to the loop that made them: make it in the server's.
        app[CLIENT] = AsyncResolverClient(connection=connection)
        yield
        await app[CLIENT].close()

    app.cleanup_ctx.append(service_client)
    app.router.add_post("/mutate", mutate)
    app.router.add_post("/mutate/{variant}", mutate)
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def mutate(request: web.Request) -> web.Response:
    """Answer one AdmissionReview; every failure of the service is answered by the policy."""
    try:
        body = await request.json()
        admission = body["request"]
        if body.get("apiVersion") != review.API_VERSION or not isinstance(admission, dict):
            raise ValueError(f"expected an AdmissionReview {review.API_VERSION}")
    except (ValueError, KeyError, TypeError) as error:
        raise web.HTTPBadRequest(text=f"not an AdmissionReview: {error}") from error
    settings = request.app[SETTINGS]
    plan = review.plan(admission, settings)
    overrides = _overrides(request)
    policy = signatures.policy_for(settings, overrides) if plan.considered else ""
    already_pinned = signatures.pinned_images(admission, settings) if policy else []
    if not plan.fields and not already_pinned:
        return web.json_response(review.allow(plan.uid))
    decision = decide(settings, overrides, plan.annotations)
    started = asyncio.get_running_loop().time()
    resolved: dict[str, review.Resolved] = {}
    service_error = ""
    if plan.fields:
        resolved, service_error = await _resolve(
            request.app[CLIENT],
            [f.image for f in plan.fields],
            settings.budget_s,
            settings.max_staleness,
            rollout_key(admission),
        )
    answer = review.respond(plan, decision, resolved, service_error)
    if policy and answer["response"]["allowed"]:
        digests = {image: found.digest for image, found in resolved.items() if found.digest}
        targets = [
            signatures.Target(f.image, f.container, pin_reference(f.image, digests[f.image]))
            for f in plan.fields
            if f.image in digests
        ] + already_pinned
        remaining = max(settings.budget_s - (asyncio.get_running_loop().time() - started), 0.1)
        outcome = await signatures.check(request.app[CLIENT], policy, targets, remaining)
        answer = signatures.require_signatures(answer, plan, decision, policy, outcome)
    _log(admission, plan, answer)
    return web.json_response(answer)


def _overrides(request: web.Request) -> dict[str, str]:
    """Per-namespace choices, made by the MutatingWebhookConfiguration's path for a label:
    /mutate/fail-closed, /mutate/fail-open, /mutate/warn (or the same as query parameters)."""
    overrides = dict(request.query)
    variant = request.match_info.get("variant", "")
    if variant in ("fail-open", "fail-closed"):
        overrides["failure-policy"] = variant.removeprefix("fail-")
    elif variant == "warn":
        overrides["mode"] = "warn"
    elif variant:
        raise web.HTTPNotFound(text=f"unknown webhook path /mutate/{variant}")
    return overrides


async def _resolve(
    client: AsyncResolverClient,
    images: list[str],
    budget_s: float,
    max_staleness: datetime.timedelta,
    key: str = "",
) -> tuple[dict[str, review.Resolved], str]:
    """One batch call within the budget; ({image: answer}, why the service failed or "").

    With a rollout key, every Pod of the rollout gets the digest its first Pod got."""
    unique = [
        resolve_request(image, max_staleness=max_staleness, rollout_key=key)
        for image in dict.fromkeys(images)
    ]
    try:
        async with asyncio.timeout(budget_s):
            results = await client.resolve_all(unique, timeout=budget_s)
    except TimeoutError:
        return {}, f"the imagepin service did not answer within {budget_s:g}s"
    except ImagepinError as error:
        return {}, f"the imagepin service could not answer ({error})"
    resolved = {
        result.reference: review.Resolved(digest=result.resolution.digest)
        if result.resolution is not None
        else review.Resolved(error=str(result.error))
        for result in results
    }
    return resolved, ""


def _log(admission: dict[str, Any], plan: review.Plan, answer: dict[str, Any]) -> None:
    response = answer["response"]
    fields = {
        "uid": plan.uid,
        "namespace": admission.get("namespace"),
        "subject": plan.subject,
        "operation": admission.get("operation"),
        "images": [f.image for f in plan.fields],
        "allowed": response["allowed"],
        "patched": "patch" in response,
        "warnings": response.get("warnings", []),
    }
    log.info("admission review", extra={"fields": fields})


def serve(
    settings: Settings, connection: Connection, listen: str, certificate: ReloadingCertificate
) -> None:
    """Serve HTTPS until SIGTERM/SIGINT (aiohttp finishes in-flight reviews first).

    Logs once listening (aiohttp calls `print` when its sockets are bound): where, which
    service, and the settings that decide what it does to a Pod.
    """
    host, _, port = listen.rpartition(":")
    started = {
        "listen": listen,
        "server": connection.target,
        "server_tls": connection.uses_tls,
        "mode": settings.mode.value,
        "failure_policy": settings.failure_policy.value,
        "budget_s": settings.budget_s,
        "max_staleness_s": settings.max_staleness.total_seconds(),
        "workload_templates": settings.workload_templates,
        "excluded_namespaces": sorted(settings.excluded_namespaces),
        "excluded_images": list(settings.excluded_images),
    }
    web.run_app(
        make_app(settings, connection),
        host=host.strip("[]") or None,
        port=int(port),
        ssl_context=certificate.context,
        access_log=None,
        print=lambda _: log.info("webhook listening", extra={"fields": started}),
        shutdown_timeout=10,
    )
    log.info("webhook stopped", extra={"fields": {"listen": listen}})
