"""ListTags / SelectTag requests, shared by the blocking and the asyncio client.

A policy is written as the command line writes it: `semver:^7.2`, `semver:>=1.4 <2`,
`numerical:asc`, `numerical:desc`, `alphabetical:asc`, `alphabetical:desc` (`asc` chooses the
highest, as Flux's `order: asc`).
"""

from __future__ import annotations

from typing import Final

import grpc

from imagepin.errors import InvalidArgument
from imagepin.messages import Delay, PlatformArg, duration, platform_message
from imagepin.v1 import resolver_pb2

_ORDERS: Final = {
    "": resolver_pb2.SORT_ORDER_ASCENDING,
    "asc": resolver_pb2.SORT_ORDER_ASCENDING,
    "desc": resolver_pb2.SORT_ORDER_DESCENDING,
}


def list_tags_request(
    reference: str,
    *,
    page_size: int = 0,
    page_token: str = "",
    filter: str = "",
    max_staleness: Delay = None,
) -> resolver_pb2.ListTagsRequest:
    return resolver_pb2.ListTagsRequest(
        reference=reference,
        page_size=page_size,
        page_token=page_token,
        filter=filter,
        max_staleness=duration(max_staleness),
    )


def select_tag_request(
    reference: str,
    policy: str,
    *,
    pattern: str = "",
    extract: str = "",
    include_prereleases: bool = False,
    platform: PlatformArg = None,
    max_staleness: Delay = None,
) -> resolver_pb2.SelectTagRequest:
    """A SelectTag request for a policy written `kind:argument`; InvalidArgument if it is none."""
    request = resolver_pb2.SelectTagRequest(
        reference=reference,
        pattern=pattern,
        extract=extract,
        platform=platform_message(platform),
        max_staleness=duration(max_staleness),
    )
    kind, _, argument = policy.partition(":")
    kind = kind.strip().lower()
    if kind == "semver":
        if not argument.strip():
            raise InvalidArgument(
                grpc.StatusCode.INVALID_ARGUMENT, "a semver policy needs a range, e.g. semver:^7.2"
            )
        request.semver.CopyFrom(
            resolver_pb2.SemverPolicy(range=argument, include_prereleases=include_prereleases)
        )
        return request
    order = _ORDERS.get(argument.strip().lower())
    if kind in ("numerical", "alphabetical") and order is not None:
        if kind == "numerical":
            request.numerical.CopyFrom(resolver_pb2.NumericalPolicy(order=order))
        else:
            request.alphabetical.CopyFrom(resolver_pb2.AlphabeticalPolicy(order=order))
        return request
    raise InvalidArgument(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{policy!r} is not a policy: semver:RANGE, numerical:asc|desc or alphabetical:asc|desc",
    )
