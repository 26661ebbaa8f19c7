"""The outbound address guard: private addresses refused, allow lists, redirects, pinned addresses."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest

from agentcron.config import ConfigError, Settings
from agentcron.engine import net
from agentcron.runtime import check_settings
from tests.dns import fake_dns
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
        "localhost",
    ],
)
async def test_private_addresses_are_refused(host: str) -> None:
    with pytest.raises(net.BlockedAddress):
        await net.resolve_checked(host, 80, net.AllowList.parse([]))


async def test_allow_list_hosts_and_cidrs() -> None:
    allow = net.AllowList.parse(["127.0.0.0/8", "intranet.example", " "])
    assert await net.resolve_checked("127.0.0.2", 80, allow) == ipaddress.ip_address("127.0.0.2")
    assert allow.allows("Intranet.Example.", ipaddress.ip_address("10.0.0.1"), 80)
    assert allow.allows("x", ipaddress.ip_address("::ffff:127.0.0.1"), 80)
    assert not allow.allows("x", ipaddress.ip_address("10.0.0.1"), 80)
    assert net.is_public(ipaddress.ip_address("93.184.216.34"))


async def test_redirects_to_private_addresses_are_refused() -> None:
    async with FakeOpenAI() as site:
        async with httpx.AsyncClient() as client:
            with pytest.raises(net.BlockedAddress, match="only http and https"):
                await net.send(client, "GET", "file:///etc/passwd", net.AllowList.parse([]), max_bytes=10)
            # allowed hop, then its 404 body, cut at max_bytes
            resp, body, cut = await net.send(
                client, "GET", f"{site.url}/missing", net.AllowList.parse(["127.0.0.1"]), max_bytes=3
            )
            assert (resp.status_code, body, cut) == (404, b"not", True)


async def test_a_request_tries_each_checked_address_of_its_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests go to the addresses checked for them (never resolved again), in the resolver's order:
    one that refuses the connection is followed by the next."""
    fake_dns(monkeypatch, "site.pinned.test", ["127.0.0.2", "127.0.0.1"])  # nothing listens on the first
    async with FakeOpenAI() as site:
        port = httpx.URL(site.url).port
        async with httpx.AsyncClient() as client:
            allow = net.AllowList.parse(["127.0.0.0/8"])
            resp, body, _ = await net.send(
                client, "GET", f"http://site.pinned.test:{port}/missing", allow, max_bytes=99
            )
    assert resp.status_code == 404 and body.startswith(b"not")
    assert resp.request.headers["Host"] == f"site.pinned.test:{port}"


# IPv6 forms that lead to an IPv4 address, each with a private or loopback one inside.
EMBEDDING_PRIVATE = [
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::a00:1",  # IPv4-compatible 10.0.0.1
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT) 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 well-known prefix
    "64:ff9b::a9fe:a9fe",  # ... 169.254.169.254
    "64:ff9b:1::c0a8:101",  # local-use NAT64, /96 layout: 192.168.1.1
    "64:ff9b:1:a00:0:100:808:808",  # local-use NAT64, /48 layout: 10.0.0.1 (8.8.8.8 in the /96 layout)
    "64:ff9b:1:7f:0:1:808:808",  # /56 layout: 127.0.0.1
    "2002:7f00:1::1",  # 6to4 127.0.0.1
    "2002:c0a8:101:1::1",  # 6to4 192.168.1.1
    "2001:0:808:808:0:0:80ff:fffe",  # Teredo, client 127.0.0.1 (inverted), server 8.8.8.8
    "2001:0:a00:1:0:0:f7f7:f7f7",  # Teredo, server 10.0.0.1, client 8.8.8.8
    "2001:0:808:808:8000:1234:9bbf:fffe",  # Teredo, client 100.64.0.1
]
# The same forms with public IPv4 addresses inside.
EMBEDDING_PUBLIC = [
    "::808:808",
    "::ffff:8.8.8.8",
    "::ffff:0:808:808",
    "64:ff9b::808:808",
    "64:ff9b:1:808:8:808:808:808",  # 8.8.8.8 in every layout the local-use prefix may use
    "2002:808:808::1",
    "2001:0:808:808:0:0:f7f7:f7f7",  # server and client 8.8.8.8
]
OTHER_NOT_PUBLIC = [
    "::",
    "0.0.0.0",
    "0.1.2.3",
    "255.255.255.255",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "ff0e::1",
    "240.0.0.1",
    "::1:0:0:0",  # reserved
    "fec0::1",  # site-local
    "fc00::1",  # unique-local
    "fd12:3456::1",
    "2001:db8::1",  # documentation
    "3fff::1",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "198.18.0.1",  # benchmarking
    "198.19.255.254",
    "192.0.0.9",
    "100::1",  # discard-only
]


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE + OTHER_NOT_PUBLIC)
async def test_addresses_that_are_not_public_are_refused_whatever_their_form(address: str) -> None:
    assert not net.is_public(ipaddress.ip_address(address))
    with pytest.raises(net.BlockedAddress, match="AGENTCRON_HTTP_ALLOW"):
        await net.resolve_checked(address, 80, net.AllowList.parse([]))


@pytest.mark.parametrize("address", [*EMBEDDING_PUBLIC, "8.8.8.8", "2606:4700:4700::1111"])
async def test_addresses_that_lead_to_public_ones_are_allowed(address: str) -> None:
    assert net.is_public(ipaddress.ip_address(address))
    assert await net.resolve_checked(address, 80, net.AllowList.parse([])) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("::ffff:127.0.0.1", ["127.0.0.1"]),
        ("::7f00:1", ["127.0.0.1"]),
        ("64:ff9b::a00:1", ["10.0.0.1"]),
        ("64:ff9b:1:a00:0:100:808:808", ["10.0.0.1", "0.0.1.0", "0.1.0.8", "8.8.8.8"]),
        ("2002:c0a8:101::", ["192.168.1.1"]),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", ["65.54.227.120", "192.0.2.45"]),  # RFC 4380's example
        ("2606:4700::1111", []),
        ("10.0.0.1", []),
    ],
)
def test_the_ipv4_addresses_an_ipv6_address_leads_to(address: str, embedded: list[str]) -> None:
    assert [str(a) for a in net.embedded_ipv4(ipaddress.ip_address(address))] == embedded


async def test_a_refusal_names_the_embedded_address() -> None:
    with pytest.raises(net.BlockedAddress, match=r"2002:7f00:1::1 \(which leads to 127\.0\.0\.1\)"):
        await net.resolve_checked("2002:7f00:1::1", 80, net.AllowList.parse([]))


async def test_every_address_of_a_name_is_checked_in_every_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """One allowed address among a name's answers lets nothing through: an IPv4-mapped private one refuses it."""
    fake_dns(monkeypatch, "mixed.rebind.test", ["127.0.0.1", "::ffff:10.0.0.5"])
    with pytest.raises(net.BlockedAddress, match="10.0.0.5"):
        await net.resolve_all_checked("mixed.rebind.test", 80, net.AllowList.parse(["127.0.0.1"]))


def test_allow_entries_with_a_port_allow_that_port_only() -> None:
    allow = net.AllowList.parse(["127.0.0.1:9000", "[::1]:9001", "Hooks.Internal:8443", "[fd00::5]", "10.0.0.0/8"])
    ip = ipaddress.ip_address
    assert allow.allows("127.0.0.1", ip("127.0.0.1"), 9000)
    assert not allow.allows("127.0.0.1", ip("127.0.0.1"), 8000)
    assert not allow.allows("127.0.0.2", ip("127.0.0.2"), 9000)
    assert allow.allows("::1", ip("::1"), 9001) and not allow.allows("::1", ip("::1"), 9000)
    assert allow.allows("hooks.internal.", ip("10.9.9.9"), 8443) and allow.allows("h", ip("10.9.9.9"), 1)
    assert allow.allows("hooks.internal", ip("192.168.1.1"), 8443)
    assert not allow.allows("hooks.internal", ip("192.168.1.1"), 443)
    assert allow.allows("fd00::5", ip("fd00::5"), 1) and allow.allows("fd00::5", ip("fd00::5"), 65535)
    # an IPv6 form of an allowed IPv4 address is allowed on the same port only
    assert allow.allows("x", ip("::ffff:127.0.0.1"), 9000) and allow.allows("x", ip("64:ff9b::7f00:1"), 9000)
    assert not allow.allows("x", ip("::ffff:127.0.0.1"), 9001)
    # Teredo: every non-public address inside must be allowed (the server 10.0.0.1 is; the client 127.0.0.1
    # only on port 9000)
    assert allow.allows("x", ip("2001:0:a00:1:0:0:80ff:fffe"), 9000)
    assert not allow.allows("x", ip("2001:0:a00:1:0:0:80ff:fffe"), 80)
    assert not allow.allows("x", ip("2001:0:c0a8:101:0:0:f7f7:f7f7"), 9000)  # server 192.168.1.1


@pytest.mark.parametrize(
    "entry",
    [
        "10.0.0.0/8:80",  # a CIDR takes no port
        "10.0.0.0/33",
        "10.0.0.0/x",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:http",
        "hooks.internal:",
        "hooks.internal:-1",
        "[::1",
        "[::1]9000",
        "[::1]:",
        "[::1]:99999",
        "[127.0.0.1]:80",
        "[fd00::/8]",
        "::1::2",
        "10.0.0.256",
        "127.1",
        "*.example.com",
        "-bad.example",
        "a b",
        "http://hooks.internal:8443",
        "hooks.internal/path",
    ],
)
def test_invalid_allow_entries_are_refused_when_parsed(entry: str) -> None:
    with pytest.raises(net.InvalidAllowEntry, match="AGENTCRON_HTTP_ALLOW entry"):
        net.AllowList.parse(["10.0.0.0/8", entry])
    with pytest.raises(ConfigError, match=f"entry '{entry}'".replace("[", "\\[").replace("*", "\\*")):
        check_settings(Settings.from_env({"AGENTCRON_HTTP_ALLOW": f"10.0.0.0/8,{entry}"}))


def test_valid_allow_entries_are_parsed() -> None:
    allow = net.AllowList.parse(["127.0.0.1:9000", "[::1]:9000", "[::1]", "::1", "hooks.internal:8443", "10.0.0.1/8"])
    assert allow.hosts == frozenset({("hooks.internal", 8443)})
    assert [(str(n), p) for n, p in allow.networks] == [
        ("127.0.0.1/32", 9000),
        ("::1/128", 9000),
        ("::1/128", None),
        ("::1/128", None),
        ("10.0.0.0/8", None),
    ]
    settings = Settings.from_env({"AGENTCRON_HTTP_ALLOW": "127.0.0.1:9000, hooks.internal:8443"})
    check_settings(settings)
    assert settings.http_allow == ("127.0.0.1:9000", "hooks.internal:8443")


@contextlib.asynccontextmanager
async def redirector(location: str) -> AsyncIterator[int]:
    """A loopback server answering every request with a 302 to ``location``; yields its port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_port_specific_entry_reaches_that_port_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allowing one local webhook (``127.0.0.1:A``) does not open the host's other ports (B: another
    server that is listening), by address, by a name, or by a redirect."""
    fake_dns(monkeypatch, "hooks.internal.test", ["127.0.0.1"])
    async with FakeOpenAI() as hook, FakeOpenAI() as other, httpx.AsyncClient() as client:
        a, b = httpx.URL(hook.url).port, httpx.URL(other.url).port
        for allow in (net.AllowList.parse([f"127.0.0.1:{a}"]), net.AllowList.parse([f"hooks.internal.test:{a}"])):
            for host in ("127.0.0.1", "hooks.internal.test") if allow.networks else ("hooks.internal.test",):
                resp, body, _ = await net.send(client, "GET", f"http://{host}:{a}/missing", allow, max_bytes=99)
                assert resp.status_code == 404 and body.startswith(b"not")
                with pytest.raises(net.BlockedAddress, match="resolves to 127.0.0.1"):
                    await net.send(client, "GET", f"http://{host}:{b}/missing", allow, max_bytes=99)
        # a redirect from the allowed port to another one is checked as a new hop, with its own port
        async with redirector(f"http://127.0.0.1:{b}/missing") as r:
            allow = net.AllowList.parse([f"127.0.0.1:{a}", f"127.0.0.1:{r}"])
            with pytest.raises(net.BlockedAddress, match="resolves to 127.0.0.1"):
                await net.send(client, "GET", f"http://127.0.0.1:{r}/", allow, max_bytes=99)
            allow = net.AllowList.parse([f"127.0.0.1:{b}", f"127.0.0.1:{r}"])
            resp, body, _ = await net.send(client, "GET", f"http://127.0.0.1:{r}/", allow, max_bytes=99)
            assert resp.status_code == 404 and resp.url.port == b
