"""Both clients offer one typed method per RPC with the same signature, and give the same
answers from the real service (their requests are built once, in imagepin.messages)."""

from __future__ import annotations

import collections.abc
import inspect
import typing

import pytest
from google.protobuf.message import Message
from imagepin import AsyncResolverClient, ResolverClient
from imagepin.v1 import resolver_pb2

from tests.support.image_fixtures import ImageCatalog
from tests.support.server_fixtures import RunningServer

METHODS = {
    "ResolveReference": "resolve",
    "GetManifest": "get_manifest",
    "ListLayers": "list_layers",
    "VerifyDigest": "verify_digest",
    "BatchResolveReferences": "batch_resolve",
    "ListTagHistory": "list_tag_history",
    "ListImagesWithLayer": "list_images_with_layer",
    "ListTags": "list_tags",
    "SelectTag": "select_tag",
    "ListReferrers": "list_referrers",
    "VerifySignatures": "verify_signatures",
}
STREAMS = {"WatchTags": "watch_tags"}  # server-streaming: an iterator of messages


def test_every_rpc_of_the_contract_has_a_method() -> None:
    service = resolver_pb2.DESCRIPTOR.services_by_name["ResolverService"]
    assert {m.name for m in service.methods} == set(METHODS) | set(STREAMS)
    assert {m.name for m in service.methods if m.server_streaming} == set(STREAMS)


@pytest.mark.parametrize("name", sorted(STREAMS.values()))
def test_sync_and_async_streams_are_typed_alike(name: str) -> None:
    sync, aio = getattr(ResolverClient, name), getattr(AsyncResolverClient, name)
    assert inspect.isasyncgenfunction(aio)
    assert inspect.isgeneratorfunction(sync)
    assert inspect.signature(sync).parameters == inspect.signature(aio).parameters
    sync_hints, aio_hints = typing.get_type_hints(sync), typing.get_type_hints(aio)
    assert typing.get_origin(sync_hints["return"]) is collections.abc.Iterator
    assert typing.get_origin(aio_hints["return"]) is collections.abc.AsyncIterator
    [element] = typing.get_args(sync_hints["return"])
    assert typing.get_args(aio_hints["return"]) == (element,)
    assert issubclass(element, Message)
    del sync_hints["return"], aio_hints["return"]
    assert sync_hints == aio_hints


@pytest.mark.parametrize("name", [*sorted(METHODS.values()), "resolve_all"])
def test_sync_and_async_methods_are_typed_alike(name: str) -> None:
    sync, aio = getattr(ResolverClient, name), getattr(AsyncResolverClient, name)
    assert inspect.iscoroutinefunction(aio)
    assert not inspect.iscoroutinefunction(sync)
    parameters = inspect.signature(sync).parameters
    assert parameters == inspect.signature(aio).parameters
    kinds = {p.kind for p in parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
    hints = typing.get_type_hints(sync)
    assert set(hints) == set(parameters) - {"self"} | {"return"}
    assert hints == typing.get_type_hints(aio)
    assert typing.Any not in hints.values()
    returned = hints["return"]
    element = typing.get_args(returned)[0] if typing.get_origin(returned) is list else returned
    assert isinstance(element, type)
    assert issubclass(element, Message) or element.__name__ == "BatchResult"


async def test_sync_and_async_clients_give_the_same_answers(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    single = pushed_images.single
    layer = single.layer_digests[0]
    with ResolverClient(service.target) as sync:
        resolved = sync.resolve(single.reference, max_staleness=0)
        sync.list_layers(single.reference)  # records the layers ListImagesWithLayer looks up
        expected = {
            "history": sync.list_tag_history(single.reference, limit=5),
            "images": sync.list_images_with_layer(layer, limit=10),
            "verify": sync.verify_digest(single.reference, single.digest),
            "layers": sync.list_layers(single.reference),
        }
    async with AsyncResolverClient(service.target) as aio:
        answers = {
            "history": await aio.list_tag_history(single.reference, limit=5),
            "images": await aio.list_images_with_layer(layer, limit=10),
            "verify": await aio.verify_digest(single.reference, single.digest),
            "layers": await aio.list_layers(single.reference),
        }
    assert resolved.digest == single.digest
    assert answers == expected
    assert expected["history"].entries[0].digest == single.digest
    assert any(i.manifest_digest == single.digest for i in expected["images"].images)
    assert expected["verify"].verified
