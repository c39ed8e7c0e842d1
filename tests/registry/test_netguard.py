"""The SSRF guard: the rules on addresses, and that a refusal happens before any connection."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from imagepin_server import errors
from imagepin_server.reference import Tag
from imagepin_server.registry import RegistryClient, RegistryHosts
from imagepin_server.registry.config import Limits, RegistriesConfig
from imagepin_server.registry.credentials import AnonymousKeychain
from imagepin_server.registry.netguard import SPECIAL_PURPOSE, AddressPolicy, AllowedNetwork

from tests.registry.helpers import ref
from tests.support.hostile_registry import HostileRegistry, launch_hostile_registry, reply


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("::ffff:169.254.169.254", "metadata"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("10.1.2.3", "private"),
        ("172.20.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
    ],
)
def test_refused_by_default(address: str, rule: str) -> None:
    with pytest.raises(errors.AddressNotAllowed) as caught:
        AddressPolicy().check(address, ipaddress.ip_address(address), 443)
    assert f"rule: {rule}" in caught.value.message


# Every IANA special-purpose range that is neither loopback nor private, each by one address in
# it: refused on every Python, including 3.11 before the CVE-2024-4032 fix of `is_global`.
@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("192.0.0.1", "192.0.0.0/24"),
        ("192.0.0.9", "192.0.0.0/24"),
        ("192.0.2.10", "192.0.2.0/24"),
        ("192.88.99.1", "192.88.99.0/24"),
        ("198.18.0.1", "198.18.0.0/15"),
        ("198.19.255.254", "198.18.0.0/15"),
        ("198.51.100.7", "198.51.100.0/24"),
        ("203.0.113.9", "203.0.113.0/24"),
        ("240.0.0.1", "240.0.0.0/4"),
        ("255.255.255.254", "240.0.0.0/4"),
        ("255.255.255.255", "255.255.255.255/32"),
        ("100::1", "100::/64"),
        ("100:0:0:1::1", "100:0:0:1::/64"),
        ("2001:2::1", "2001:2::/48"),
        ("2001:10::1", "2001:10::/28"),
        ("2001:db8::1", "2001:db8::/32"),
        ("3fff::1", "3fff::/20"),
        ("5f00::1", "5f00::/16"),
        ("fec0::1", "fec0::/10"),
        ("::ffff:198.18.0.1", "198.18.0.0/15"),  # carried in IPv6, judged as IPv4
        ("64:ff9b::c000:201", "192.0.2.0/24"),
    ],
)
def test_special_purpose_ranges_are_refused(address: str, network: str) -> None:
    with pytest.raises(errors.AddressNotAllowed) as caught:
        AddressPolicy().check(address, ipaddress.ip_address(address), 443)
    assert "rule: special-purpose" in caught.value.message
    assert network in caught.value.message


def test_special_purpose_ranges_open_only_by_an_allow_entry() -> None:
    address = ipaddress.ip_address("198.18.0.1")
    with pytest.raises(errors.AddressNotAllowed, match="special-purpose"):
        AddressPolicy(allow_private=True).check("bench", address, 443)
    AddressPolicy(allow=(AllowedNetwork.parse("198.18.0.0/15"),)).check("bench", address, 443)


def test_what_is_not_globally_routable_is_refused_even_when_not_listed() -> None:
    """The backstop: `is_global` refuses what the list may lack (here IETF 2001::/23 space)."""
    address = ipaddress.ip_address("2001:4::1")
    assert not any(address in network for network, _ in SPECIAL_PURPOSE)
    with pytest.raises(errors.AddressNotAllowed, match="rule: not-global"):
        AddressPolicy().check("x", address, 443)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "93.184.216.34", "2606:4700::1"])
def test_allowed_by_default(address: str) -> None:
    AddressPolicy().check(address, ipaddress.ip_address(address), 443)


# IPv6 forms that carry an IPv4 address: the IPv4 rules apply to what they carry.
@pytest.mark.parametrize(
    ("address", "rule", "form"),
    [
        ("64:ff9b::a9fe:a9fe", "metadata", "NAT64"),
        ("64:ff9b::10.1.2.3", "private", "NAT64"),
        ("64:ff9b::169.254.1.1", "link-local", "NAT64"),
        ("64:ff9b:1::a9fe:a9fe", "metadata", "local-use NAT64"),  # a /96 in the /48
        ("64:ff9b:1:a9fe:a9:fe00::", "metadata", "local-use NAT64"),  # the /48 layout
        ("64:ff9b:1:c0:a8:101::", "private", "local-use NAT64"),  # /56: 192.168.1.1
        ("64:ff9b:1:0:a9:fea9:fe00:0", "metadata", "local-use NAT64"),  # /64
        ("::a9fe:a9fe", "metadata", "IPv4-compatible"),
        ("::10.1.2.3", "private", "IPv4-compatible"),
        ("::224.0.0.1", "multicast", "IPv4-compatible"),
        ("::ffff:0:a9fe:a9fe", "metadata", "IPv4-translated"),
        ("2002:a9fe:a9fe::1", "metadata", "6to4"),
        ("2002:c0a8:101::1", "private", "6to4"),
        ("2002:a9fe:101::", "link-local", "6to4"),
        ("2001:0:4136:e378:8000:63bf:5601:5601", "metadata", "Teredo client"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private", "Teredo client"),  # 10.0.0.1
        ("2001:0:a01:203:8000:63bf:a3b7:27dd", "private", "Teredo server"),  # 10.1.2.3
        ("::ffff:10.1.2.3", "private", "IPv4-mapped"),
    ],
)
def test_ipv4_carried_in_ipv6_is_checked_by_the_ipv4_rules(
    address: str, rule: str, form: str
) -> None:
    with pytest.raises(errors.AddressNotAllowed) as caught:
        AddressPolicy().check(address, ipaddress.ip_address(address), 443)
    assert f"rule: {rule}" in caught.value.message
    assert f"({form})" in caught.value.message


def test_loopback_carried_in_ipv6_follows_allow_loopback() -> None:
    for address in ("64:ff9b::7f00:1", "2002:7f00:1::", "::127.0.0.1", "::ffff:127.0.0.1"):
        with pytest.raises(errors.AddressNotAllowed, match="rule: loopback"):
            AddressPolicy(allow_loopback=False).check(address, ipaddress.ip_address(address), 80)
        AddressPolicy().check(address, ipaddress.ip_address(address), 80)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
        "64:ff9b:1::5db8:d822",
        "2002:5db8:d822::1",  # 6to4
        "2001:0:4136:e378:8000:63bf:a247:27dd",  # Teredo: 65.54.227.120, client 93.184.216.34
    ],
)
def test_ipv4_carried_in_ipv6_that_is_public_is_allowed(address: str) -> None:
    AddressPolicy().check(address, ipaddress.ip_address(address), 443)


def test_a_private_address_carried_in_ipv6_is_allowed_by_an_ipv4_entry() -> None:
    policy = AddressPolicy(allow=(AllowedNetwork.parse("10.20.0.0/16"),))
    policy.check("r", ipaddress.ip_address("64:ff9b::10.20.3.4"), 443)
    with pytest.raises(errors.AddressNotAllowed, match="rule: private"):
        policy.check("r", ipaddress.ip_address("64:ff9b::10.21.3.4"), 443)


def test_allow_entries_open_private_networks_and_single_ports() -> None:
    policy = AddressPolicy(
        allow_loopback=False,
        allow=(AllowedNetwork.parse("10.20.0.0/16"), AllowedNetwork.parse("127.0.0.1:5000")),
    )
    policy.check("r", ipaddress.ip_address("10.20.3.4"), 443)
    policy.check("r", ipaddress.ip_address("127.0.0.1"), 5000)
    with pytest.raises(errors.AddressNotAllowed, match="rule: loopback"):
        policy.check("r", ipaddress.ip_address("127.0.0.1"), 5001)
    with pytest.raises(errors.AddressNotAllowed, match="rule: private"):
        policy.check("r", ipaddress.ip_address("10.21.0.1"), 443)


def test_metadata_stays_refused_whatever_is_allowed() -> None:
    policy = AddressPolicy(allow_private=True, allow=(AllowedNetwork.parse("0.0.0.0/0"),))
    with pytest.raises(errors.AddressNotAllowed, match="metadata"):
        policy.check("m", ipaddress.ip_address("169.254.169.254"), 80)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileRegistry]:
    with launch_hostile_registry() as registry:
        registry.script("GET", "/v2/guarded/app/manifests/1", reply(404, b""))
        yield registry


@pytest.mark.parametrize("spelled", ["127.0.0.1", "localhost"])
async def test_refusal_comes_before_any_connection(hostile: HostileRegistry, spelled: str) -> None:
    """By IP and by a name resolved to it (the check is on the resolved address)."""
    port = hostile.host.rsplit(":", 1)[1]
    config = RegistriesConfig(
        network=AddressPolicy(allow_loopback=False), defaults=Limits(retries=0)
    )
    client = RegistryClient(RegistryHosts(config=config), AnonymousKeychain())
    hostile.requests.clear()
    try:
        with pytest.raises(errors.AddressNotAllowed) as caught:
            await client.get_manifest(ref(f"{spelled}:{port}", "guarded/app"), Tag("1"))
    finally:
        await client.aclose()
    assert hostile.requests == []
    assert "rule: loopback" in caught.value.message
    assert f"{spelled}:{port}/guarded/app:1" in caught.value.message


async def test_allow_list_of_registries_refuses_others_by_name() -> None:
    config = RegistriesConfig(allowed_registries=("ghcr.io", "*.example.com"))
    assert config.registry_allowed("ghcr.io")
    assert config.registry_allowed("eu.example.com")
    assert not config.registry_allowed("example.com.evil.io")
    client = RegistryClient(RegistryHosts(config=config), AnonymousKeychain())
    try:
        with pytest.raises(errors.RegistryNotAllowed, match=r"network\.allowed_registries"):
            await client.head_manifest(ref("169.254.169.254", "x/y"), Tag("1"))
    finally:
        await client.aclose()
