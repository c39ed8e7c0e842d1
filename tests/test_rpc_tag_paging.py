"""ListTags through the real server against a spec-faithful scripted registry: the spec's
`Link` paging, a registry that pages out of order, the bound on tags named in the answer, and a
list read once while it is kept.

distribution 2.8 cannot page (tests/test_rpc_tags.py covers it); only what it cannot do is here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from urllib.parse import urlsplit

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb

from tests.support.hostile_registry import HostileRegistry, launch_hostile_registry, reply
from tests.support.rpc import error_info
from tests.support.server_fixtures import RunningServer, start_server, stop_server
from tests.support.tag_pages import spec_pages, unordered_pages


@pytest.fixture(scope="module")
def scripted() -> Iterator[HostileRegistry]:
    with launch_hostile_registry() as registry:
        yield registry


@pytest.fixture(scope="module")
def paging_server(
    tmp_path_factory: pytest.TempPathFactory, scripted: HostileRegistry
) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("tag-paging")
    config = workdir / "registries.toml"
    config.write_text(
        f'[network]\nallowed_registries = ["{scripted.host}"]\n[defaults]\nretries = 0\n'
    )
    server = start_server(
        workdir, env={"IMAGEPIN_REGISTRIES_CONFIG": str(config), "IMAGEPIN_INDEX_LAYERS": "false"}
    )
    yield server
    stop_server(server)


def every_page(server: RunningServer, reference: str) -> tuple[list[str], set[int]]:
    """All tags over every page of 1000, and the bounds the pages named."""
    tags: list[str] = []
    bounds: set[int] = set()
    token = ""
    while True:
        page = server.stub.ListTags(
            pb.ListTagsRequest(reference=reference, page_size=1000, page_token=token), timeout=20
        )
        tags += page.tags
        bounds.add(page.bound)
        token = page.next_page_token
        if not token:
            return tags, bounds


def listing_requests(registry: HostileRegistry, repository: str) -> list[str]:
    return [
        urlsplit(seen.path).query
        for seen in registry.requests
        if seen.path.startswith(f"/v2/{repository}/tags/list")
    ]


def test_spec_paging_is_followed_and_kept(
    paging_server: RunningServer, scripted: HostileRegistry
) -> None:
    repository = "spec/app"
    names = [f"v{number}" for number in range(2500)]
    scripted.script("GET", f"/v2/{repository}/tags/list", spec_pages(repository, names))
    tags, bounds = every_page(paging_server, f"{scripted.host}/{repository}")
    assert tags == sorted(names)
    assert bounds == {pb.TAG_LIST_BOUND_UNSPECIFIED}
    asked = listing_requests(scripted, repository)
    assert asked == [
        "n=1000",
        f"n=1000&last={sorted(names)[999]}",
        f"n=1000&last={sorted(names)[1999]}",
    ]
    # Three pages of ours were served from the one listing kept (three registry requests).
    every_page(paging_server, f"{scripted.host}/{repository}")
    assert len(listing_requests(scripted, repository)) == 3


def test_a_registry_paging_out_of_order(
    paging_server: RunningServer, scripted: HostileRegistry
) -> None:
    repository = "unordered/app"
    names = [f"build-{number}" for number in range(1800)]
    random.Random(5).shuffle(names)
    scripted.script(
        "GET", f"/v2/{repository}/tags/list", unordered_pages(repository, names, page_size=250)
    )
    tags, _ = every_page(paging_server, f"{scripted.host}/{repository}")
    assert tags == sorted(names)
    assert len(listing_requests(scripted, repository)) == 8


def test_the_tag_bound_is_named_in_the_answer(
    paging_server: RunningServer, scripted: HostileRegistry
) -> None:
    repository = "huge/app"
    names = [f"t{number:05d}" for number in range(10_050)]
    scripted.script("GET", f"/v2/{repository}/tags/list", spec_pages(repository, names))
    tags, bounds = every_page(paging_server, f"{scripted.host}/{repository}")
    assert tags == names[:10_000]
    assert bounds == {pb.TAG_LIST_BOUND_TAGS}


def test_a_link_to_another_listing_is_refused(
    paging_server: RunningServer, scripted: HostileRegistry
) -> None:
    repository = "elsewhere/app"
    link = {"Link": '</v2/other/app/tags/list?n=1000&last=a>; rel="next"'}
    scripted.script(
        "GET", f"/v2/{repository}/tags/list", reply(200, b'{"name":"x","tags":["a"]}', link)
    )
    with pytest.raises(grpc.RpcError) as failure:
        every_page(paging_server, f"{scripted.host}/{repository}")
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(failure.value).reason == "BAD_REGISTRY_RESPONSE"
    assert not any("/v2/other/" in seen.path for seen in scripted.requests)
