"""The SSRF guard: which addresses imagepin may open a connection to.

Callers name registries, and registries name token realms and redirect targets, so without a
guard the service is a way into the cluster network. The guard sits in the one place every
connection is made (an httpcore network backend): it resolves the host itself, checks every
address, and connects only to an address it checked, so a DNS answer that changes between the
check and the connection (rebinding) cannot slip past, nor can a redirect. TLS still verifies
and sends SNI for the name, because httpcore starts TLS with the origin's host.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import anyio
import httpcore
import httpx

from imagepin_server.errors import AddressNotAllowed
from imagepin_server.registry.streams import IdleCheckedStream

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never reachable, whatever is configured: instance metadata hands out cloud credentials.
METADATA: Final = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
UNSPECIFIED: Final = (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128"))
PRIVATE: Final = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
# IANA special-purpose ranges (RFC 6890 registries) that no registry is at and that are not
# private networks either: refused unless `network.allow` names them. Listed rather than left to
# `ipaddress.is_global`, which Python 3.11 before the CVE-2024-4032 fix gets wrong for some of
# them (192.0.0.0/24 counted as global); `is_global` is still checked after these, as a backstop.
SPECIAL_PURPOSE: Final = tuple(
    (ipaddress.ip_network(network), what)
    for network, what in (
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("255.255.255.255/32", "limited broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("100::/64", "discard-only"),
        ("100:0:0:1::/64", "dummy prefix"),
        ("2001:2::/48", "benchmarking"),
        ("2001:10::/28", "ORCHID (deprecated)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing (SRv6) SIDs"),
        ("fec0::/10", "site-local (deprecated)"),
    )
)
MAX_ADDRESSES: Final = 16  # addresses tried per host; a DNS answer must not make us loop long
# IPv6 forms that carry an IPv4 address, which is then checked by the IPv4 rules: a NAT64
# gateway or a 6to4/Teredo relay would carry the connection on to it.
IPV4_COMPATIBLE: Final = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
IPV4_TRANSLATED: Final = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT, RFC 2765
NAT64_WELL_KNOWN: Final = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
NAT64_LOCAL_USE: Final = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215


def hostname(host: str) -> str:
    """The host part of `host[:port]`, without IPv6 brackets."""
    if host.startswith("["):
        return host[1 : host.index("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses, with or without a port (by name only)."""
    name = hostname(host).lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class AllowedNetwork:
    """A network (optionally one port of it) allowed although loopback or private."""

    network: IPNetwork
    port: int | None = None

    def matches(self, address: IPAddress, port: int) -> bool:
        return address in self.network and (self.port is None or self.port == port)

    @classmethod
    def parse(cls, text: str) -> AllowedNetwork:
        """`10.0.0.0/8`, `10.1.2.3`, `10.1.2.3:5000`, `[fd00::1]:5000`; ValueError otherwise."""
        text = text.strip()
        port: int | None = None
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if rest:
                if not rest.startswith(":") or not rest[1:].isdigit():
                    raise ValueError(f"{text!r}: expected [ADDRESS]:PORT")
                port = int(rest[1:])
            text = host
        elif text.count(":") == 1:
            text, _, port_text = text.partition(":")
            if not port_text.isdigit():
                raise ValueError(f"{text!r}: the port must be a number")
            port = int(port_text)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port {port} is out of range")
        return cls(ipaddress.ip_network(text, strict=False), port)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which resolved addresses may be connected to: by default only globally routable ones
    (and loopback, for development), with `allow` opening chosen networks."""

    allow_loopback: bool = True  # how people develop and test; k8s/ turns it off
    allow_private: bool = False
    allow: tuple[AllowedNetwork, ...] = ()

    def check(self, host: str, address: IPAddress, port: int) -> None:
        """Raise AddressNotAllowed, naming the rule, unless `address:port` may be reached.

        An IPv6 address that carries an IPv4 address (see `embedded_ipv4`) must pass the rules
        both as itself and as every IPv4 address it carries.
        """
        shown = host if host == str(address) else f"{host} ({address})"
        carried = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else []
        rule = self._refusal(address, port, carries_ipv4=bool(carried))
        if rule is not None:
            raise AddressNotAllowed(f"refusing to connect to {shown} port {port}: {rule}")
        # The never-allowed rules first: one IPv6 form can be read as several IPv4 addresses
        # (local-use NAT64), and the refusal should name the one that matters most.
        for judge in (_never_allowed, lambda inner: self._refusal(inner, port, carries_ipv4=False)):
            for form, inner in carried:
                rule = judge(inner)
                if rule is not None:
                    raise AddressNotAllowed(
                        f"refusing to connect to {shown} port {port}: it carries {inner} "
                        f"({form}), and {rule}"
                    )

    def _refusal(self, address: IPAddress, port: int, *, carries_ipv4: bool) -> str | None:
        """The rule that refuses `address`, or None; every address not globally routable is
        refused unless allowed. An IPv6 form that carries IPv4 is judged by what it carries."""
        never = _never_allowed(address)
        if never is not None:
            return never
        if any(entry.matches(address, port) for entry in self.allow):
            return None
        if address.is_loopback:
            if self.allow_loopback:
                return None
            return (
                "it is a loopback address (rule: loopback; allow it with "
                "network.allow_loopback = true or an entry in network.allow)"
            )
        if any(address in net for net in PRIVATE):
            if self.allow_private:
                return None
            return (
                "it is a private address (rule: private; allow it with "
                "network.allow_private = true or an entry in network.allow)"
            )
        for network, what in SPECIAL_PURPOSE:
            if address in network:
                return (
                    f"it is a special-purpose address, {what} {network} (rule: special-purpose; "
                    "allow it with an entry in network.allow)"
                )
        if not carries_ipv4 and not address.is_global:
            return (
                "it is not a globally routable address (rule: not-global; allow it with an "
                "entry in network.allow)"
            )
        return None


def _never_allowed(address: IPAddress) -> str | None:
    """The rule refusing `address` whatever the configuration allows, or None."""
    if address in METADATA:
        return "it is a cloud metadata address (rule: metadata, never allowed)"
    if any(address in net for net in UNSPECIFIED):
        return "it is an unspecified address (rule: unspecified, never allowed)"
    if address.is_link_local:
        return "it is a link-local address (rule: link-local, never allowed)"
    if address.is_multicast:
        return "it is a multicast address (rule: multicast, never allowed)"
    return None


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the name of its form.

    IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, IPv4-compatible
    `::a.b.c.d` (not `::` or `::1`), NAT64 `64:ff9b::a.b.c.d`, local-use NAT64 in
    `64:ff9b:1::/48` (every RFC 6052 layout that fits in it, /48, /56, /64 and /96: the
    network's own prefix length is not known here), 6to4 `2002:AABB:CCDD::` and Teredo (its
    server and its client).
    """
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    packed = address.packed
    if address.ipv4_mapped is not None:
        found.append(("IPv4-mapped", address.ipv4_mapped))
    if address in IPV4_TRANSLATED:
        found.append(("IPv4-translated", ipaddress.IPv4Address(packed[12:])))
    if address in IPV4_COMPATIBLE and int(address) > 1:
        found.append(("IPv4-compatible", ipaddress.IPv4Address(packed[12:])))
    if address in NAT64_WELL_KNOWN:
        found.append(("NAT64", ipaddress.IPv4Address(packed[12:])))
    elif address in NAT64_LOCAL_USE:
        # RFC 6052 section 2.2: below /96 the IPv4 address sits around bits 64-71, which are 0.
        layouts = [packed[12:16]]  # /96
        if packed[8] == 0:
            layouts += [packed[6:8] + packed[9:11], packed[7:8] + packed[9:12], packed[9:13]]
        for layout in layouts:
            inner = ipaddress.IPv4Address(layout)
            # A reading in 0.0.0.0/8 is the zero bits of another layout: nothing a translator
            # could send a connection to.
            if inner not in UNSPECIFIED[0]:
                found.append(("local-use NAT64", inner))
    if address.sixtofour is not None:
        found.append(("6to4", address.sixtofour))
    if address.teredo is not None:
        server, client = address.teredo
        found.extend([("Teredo server", server), ("Teredo client", client)])
    return found


class GuardedBackend(httpcore.AnyIOBackend):
    """httpcore's asyncio backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:
            self.policy.check(host, address, port)  # every address, before any connection
        last: Exception | None = None
        for address in addresses:
            try:
                stream = await super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
                return IdleCheckedStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # _resolve returns at least one address
        raise last

    async def _resolve(self, host: str, port: int, limit_s: float | None) -> list[IPAddress]:
        name = host.strip("[]")
        try:
            return [ipaddress.ip_address(name)]
        except ValueError:
            pass
        try:
            with anyio.fail_after(limit_s):
                infos = await anyio.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {name} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {name}: {exc}") from exc
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise httpcore.ConnectError(f"{name} resolves to no address")
        return addresses[:MAX_ADDRESSES]


def guarded_transport(
    policy: AddressPolicy, context: ssl.SSLContext, *, max_connections: int
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through `GuardedBackend`.

    httpx does not take a network backend, so its connection pool is replaced by an identical
    httpcore pool that has one; httpx's request/response and exception mapping are kept.
    """
    limits = httpx.Limits(max_connections=max_connections)
    transport = httpx.AsyncHTTPTransport(verify=context, limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return transport
