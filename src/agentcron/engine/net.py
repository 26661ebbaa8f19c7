"""Outbound HTTP for abilities: refuses private, loopback, link-local and other non-public addresses.

The host is resolved once, every address it resolves to is checked, and the request is then sent to a
checked address (``Host`` header and TLS SNI keep the name), so a DNS answer that changes between check and
connect cannot reach an internal address. Redirects are followed by hand, each hop checked the same way.
IPv6 addresses that lead to an IPv4 one (IPv4-mapped, -compatible and -translated, NAT64, 6to4, Teredo) are
judged by the IPv4 addresses they embed. ``Settings.http_allow`` (host names, IP addresses or CIDRs; names and
addresses may carry a port) lets named hosts or networks through.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

T = TypeVar("T")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_REDIRECTS = 5

_V4 = 0xFFFFFFFF
_net = ipaddress.ip_network
#: IPv6 prefixes whose last 32 bits are the IPv4 address reached: IPv4-mapped, IPv4-compatible (deprecated; it
#: holds ``::`` and ``::1``, read as 0.0.0.0 and 0.0.0.1), IPv4-translated (SIIT) and the well-known NAT64 prefix.
_LAST_32 = (_net("::ffff:0:0/96"), _net("::/96"), _net("::ffff:0:0:0/96"), _net("64:ff9b::/96"))
#: Local-use NAT64 (RFC 8215): the local translator may use any RFC 6052 layout that fits in it.
_NAT64_LOCAL = _net("64:ff9b:1::/48")
_6TO4 = _net("2002::/16")
_TEREDO = _net("2001::/32")
#: Not public whatever this Python's `ipaddress` tables say (they differ between versions).
_NOT_PUBLIC: dict[int, tuple[IPNetwork, ...]] = {
    4: tuple(
        _net(n)
        for n in (
            "0.0.0.0/8",  # "this network", 0.0.0.0 (reaches the local host)
            "10.0.0.0/8",
            "100.64.0.0/10",  # CGNAT
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",  # IETF protocol assignments
            "192.0.2.0/24",  # documentation
            "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
            "192.168.0.0/16",
            "198.18.0.0/15",  # benchmarking
            "198.51.100.0/24",  # documentation
            "203.0.113.0/24",  # documentation
            "224.0.0.0/4",  # multicast
            "240.0.0.0/4",  # reserved, and the broadcast 255.255.255.255
        )
    ),
    6: tuple(
        _net(n)
        for n in (
            "::/128",
            "::1/128",
            "100::/64",  # discard-only
            "2001:2::/48",  # benchmarking
            "2001:10::/28",  # ORCHID (deprecated)
            "2001:db8::/32",  # documentation
            "3fff::/20",  # documentation
            "5f00::/16",  # SRv6 segment identifiers
            "fc00::/7",  # unique-local
            "fe80::/10",  # link-local
            "fec0::/10",  # site-local (deprecated)
            "ff00::/8",  # multicast
        )
    ),
}
_PORT = re.compile(r"[0-9]{1,5}")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
ALLOW_SYNTAX = (
    "entries are host names, IP addresses or CIDRs, names and addresses optionally with a port "
    "(hooks.internal:8443, 127.0.0.1:9000, [::1]:9000, 10.0.0.0/8)"
)


class BlockedAddress(Exception):
    """The URL is not allowed: its scheme, or an address its host resolves to."""


class InvalidAllowEntry(ValueError):
    """An ``AGENTCRON_HTTP_ALLOW`` entry that is not a host name, IP address or CIDR (with a valid port)."""


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address leads to (none for other addresses): the last 32 bits of IPv4-mapped,
    -compatible and -translated addresses and of the well-known NAT64 prefix; for the local-use NAT64 prefix,
    the address of each layout (RFC 6052: prefix /48, /56, /64 or /96) its translator may use; bits 16-48 of
    6to4; the server (bits 32-64) and the client (the last 32 bits, inverted) of Teredo."""
    if isinstance(address, ipaddress.IPv4Address):
        return ()
    n = int(address)
    if any(address in prefix for prefix in _LAST_32):
        found = [n & _V4]
    elif address in _NAT64_LOCAL:  # bits 64-72 (the "u" octet) never hold address bits
        found = [
            ((n >> 64) & 0xFFFF) << 16 | (n >> 40) & 0xFFFF,  # /48: bits 48-64, 72-88
            ((n >> 64) & 0xFF) << 24 | (n >> 32) & 0xFFFFFF,  # /56: bits 56-64, 72-96
            (n >> 24) & _V4,  # /64: bits 72-104
            n & _V4,  # /96
        ]
    elif address in _6TO4:
        found = [(n >> 80) & _V4]
    elif address in _TEREDO:
        found = [(n >> 64) & _V4, (n & _V4) ^ _V4]
    else:
        return ()
    return tuple(ipaddress.IPv4Address(a) for a in dict.fromkeys(found))


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address. An IPv6 address that embeds IPv4 addresses (see
    `embedded_ipv4`) is public when every one of them is."""
    embedded = embedded_ipv4(address)
    if embedded:
        return all(is_public(a) for a in embedded)
    if any(address in n for n in _NOT_PUBLIC[address.version]):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _port(text: str, entry: str) -> int:
    if not _PORT.fullmatch(text) or not 0 < int(text) < 65536:
        raise InvalidAllowEntry(f"AGENTCRON_HTTP_ALLOW entry {entry!r}: the port must be 1 to 65535, not {text!r}")
    return int(text)


def _host_name(text: str, entry: str) -> str:
    name = text.lower().removesuffix(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise InvalidAllowEntry(
            f"AGENTCRON_HTTP_ALLOW entry {entry!r} is not a host name, IP address or CIDR ({ALLOW_SYNTAX}; "
            "write international names in their xn-- form)"
        )
    return name


def _parse_entry(entry: str) -> tuple[str | None, IPNetwork | None, int | None]:
    """(host name, network, port or None for any) of one entry; exactly one of name and network is set."""
    if "://" in entry:
        raise InvalidAllowEntry(f"AGENTCRON_HTTP_ALLOW entry {entry!r} is a URL: write its host (and port) only")
    if entry.startswith("["):  # [IPv6 address] or [IPv6 address]:port
        inside, close, rest = entry[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise InvalidAllowEntry(
                f"AGENTCRON_HTTP_ALLOW entry {entry!r}: expected [IPv6 address] or [IPv6 address]:port"
            )
        try:
            v6 = ipaddress.IPv6Address(inside)
        except ValueError:
            raise InvalidAllowEntry(
                f"AGENTCRON_HTTP_ALLOW entry {entry!r}: {inside!r} is not an IPv6 address"
            ) from None
        return None, ipaddress.IPv6Network(v6), _port(rest[1:], entry) if rest else None
    port: int | None = None
    text = entry
    if entry.count(":") == 1:  # name:port or IPv4:port (bare IPv6 has two colons or more)
        text, _, port_text = entry.partition(":")
        port = _port(port_text, entry)
    if "/" in text:
        if port is not None:
            raise InvalidAllowEntry(
                f"AGENTCRON_HTTP_ALLOW entry {entry!r}: a CIDR takes no port (it allows every port)"
            )
        try:
            return None, ipaddress.ip_network(text, strict=False), None
        except ValueError as e:
            raise InvalidAllowEntry(f"AGENTCRON_HTTP_ALLOW entry {entry!r} is not a valid CIDR: {e}") from None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if ":" in text:
            raise InvalidAllowEntry(
                f"AGENTCRON_HTTP_ALLOW entry {entry!r} is not a valid IPv6 address "
                "(with a port, bracket it: [::1]:9000)"
            ) from None
        return _host_name(text, entry), None, port
    return None, ipaddress.ip_network(address), port


@dataclass(frozen=True, slots=True)
class AllowList:
    """Hosts (by name) and networks outbound HTTP may reach although they are not public, each with the one port
    it allows, or None for any port."""

    hosts: frozenset[tuple[str, int | None]]
    networks: tuple[tuple[IPNetwork, int | None], ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Parse ``AGENTCRON_HTTP_ALLOW`` entries (blank ones are skipped). Raises `InvalidAllowEntry`."""
        hosts: set[tuple[str, int | None]] = set()
        networks: list[tuple[IPNetwork, int | None]] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            name, network, port = _parse_entry(entry)
            if name is not None:
                hosts.add((name, port))
            elif network is not None:
                networks.append((network, port))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress, port: int) -> bool:
        """Whether a request for ``host`` on ``port`` may reach ``address`` although it is not public: the host
        is listed by name, the address is in a listed network, or every non-public IPv4 address it embeds is
        (an entry with a port allows that port only)."""
        name = host.lower().rstrip(".")
        if any(h == name and p in (None, port) for h, p in self.hosts):
            return True
        if self._network_allows(address, port):
            return True
        embedded = embedded_ipv4(address)
        return bool(embedded) and all(is_public(a) or self._network_allows(a, port) for a in embedded)

    def _network_allows(self, address: IPAddress, port: int) -> bool:
        return any(address.version == n.version and address in n and p in (None, port) for n, p in self.networks)


async def resolve_checked(host: str, port: int, allow: AllowList) -> IPAddress:
    """The first address of ``host``, after checking that every one it resolves to may be reached."""
    return (await resolve_all_checked(host, port, allow))[0]


async def resolve_all_checked(host: str, port: int, allow: AllowList) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order, after checking that each may be
    reached. Raises `BlockedAddress`."""
    addresses: list[IPAddress] = []
    try:
        addresses.append(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not addresses:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as e:
            raise BlockedAddress(f"cannot resolve {host}: {e}") from None
        for info in infos:
            addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if addr not in addresses:
                addresses.append(addr)
        if not addresses:
            raise BlockedAddress(f"cannot resolve {host}")
    for addr in addresses:
        if not is_public(addr) and not allow.allows(host, addr, port):
            embedded = embedded_ipv4(addr)
            inside = f" (which leads to {', '.join(map(str, embedded))})" if embedded else ""
            raise BlockedAddress(
                f"{host} resolves to {addr}{inside}, a private, loopback or link-local address or another "
                "non-public one (allow it with AGENTCRON_HTTP_ALLOW)"
            )
    return addresses


async def pin(scheme: str, host: str, port: int | None, allow: AllowList) -> tuple[list[str], str, dict[str, Any]]:
    """Check where a request to ``scheme://host:port`` would go and pin it there: (the addresses to try
    in order instead of ``host``, the Host header, request extensions (TLS server name)). Sending to
    those addresses, never resolving ``host`` again, is what keeps a DNS answer that changes between
    the check and the connection (DNS rebinding) out of private networks. Raises `BlockedAddress`."""
    if scheme not in ("http", "https"):
        raise BlockedAddress(f"only http and https URLs are allowed, not {scheme or 'a relative URL'!r}")
    if not host:
        raise BlockedAddress("the URL has no host")
    addresses = await resolve_all_checked(host, port or (443 if scheme == "https" else 80), allow)
    bracketed = f"[{host}]" if ":" in host else host
    host_header = bracketed if port is None else f"{bracketed}:{port}"
    extensions: dict[str, Any] = {"sni_hostname": host} if scheme == "https" else {}
    return [str(a) for a in addresses], host_header, extensions


async def in_order(addresses: Sequence[str], send: Callable[[str], Awaitable[T]], refused: type[Exception]) -> T:
    """``send`` to each pinned address in turn until one takes the connection: the next one is tried only
    when ``refused`` (the client's connect error, raised before anything was sent) comes back."""
    for addr in addresses[:-1]:
        try:
            return await send(addr)
        except refused:
            continue
    return await send(addresses[-1])


async def _send_to(
    client: httpx.AsyncClient,
    method: str,
    target: httpx.URL,
    headers: dict[str, str],
    json: Any,
    extensions: dict[str, Any],
    addr: str,
) -> httpx.Response:
    """Send to ``target`` at the address ``addr`` (streamed, redirects not followed)."""
    pinned = target.copy_with(host=addr)
    request = client.build_request(method, pinned, headers=headers, json=json, extensions=extensions)
    return await client.send(request, stream=True, follow_redirects=False)


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    allow: AllowList,
    *,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    max_bytes: int,
) -> tuple[httpx.Response, bytes, bool]:
    """Send one request (following up to 5 redirects, each hop checked); returns the response, its body up
    to ``max_bytes`` and whether the body was cut there."""
    target = httpx.URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        addresses, host_header, extensions = await pin(target.scheme, target.host, target.port, allow)
        pinned = {**(headers or {}), "Host": host_header}
        send_to = functools.partial(_send_to, client, method, target, pinned, json, extensions)
        response = await in_order(addresses, send_to, httpx.ConnectError)
        try:
            if response.is_redirect and "location" in response.headers:
                target = httpx.URL(urljoin(str(target), response.headers["location"]))
                if response.status_code in (301, 302, 303) and method.upper() != "HEAD":
                    method, json = "GET", None
                continue
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    del body[max_bytes:]
                    truncated = True
                    break
            return response, bytes(body), truncated
        finally:
            await response.aclose()
    raise BlockedAddress(f"too many redirects (more than {MAX_REDIRECTS})")


async def check_url(url: str, allow: AllowList) -> list[str]:
    """Check that a request to ``url`` may go out (an http or https URL whose host resolves only to addresses
    that may be reached); returns those addresses, in order. Raises `BlockedAddress` saying why not."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as e:
        raise BlockedAddress(f"not a URL: {e}") from None
    addresses, _, _ = await pin(target.scheme, target.host, target.port, allow)
    return addresses
