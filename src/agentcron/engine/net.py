"""Outbound HTTP for abilities: refuses private, loopback, link-local and other non-global addresses.

The host is resolved once, every address it resolves to is checked, and the request is then sent to a
checked address (``Host`` header and TLS SNI keep the name), so a DNS answer that changes between check and
connect cannot reach an internal address. Redirects are followed by hand, each hop checked the same way.
``Settings.http_allow`` (host names or CIDRs) lets named hosts or networks through.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

T = TypeVar("T")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_REDIRECTS = 5


class BlockedAddress(Exception):
    """The URL is not allowed: its scheme, or an address its host resolves to."""


@dataclass(frozen=True, slots=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(a in n for a in candidates for n in self.networks if a.version == n.version)


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


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
        if not is_public(addr) and not allow.allows(host, addr):
            raise BlockedAddress(
                f"{host} resolves to {addr}, a private, loopback or link-local address "
                "(allow it with AGENTCRON_HTTP_ALLOW)"
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
