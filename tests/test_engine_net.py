"""The outbound address guard: private addresses refused, allow lists, redirects, pinned addresses."""

from __future__ import annotations

import ipaddress

import pytest

from agentcron.engine import net
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
    assert allow.allows("Intranet.Example.", ipaddress.ip_address("10.0.0.1"))
    assert allow.allows("x", ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not allow.allows("x", ipaddress.ip_address("10.0.0.1"))
    assert net.is_public(ipaddress.ip_address("93.184.216.34"))


async def test_redirects_to_private_addresses_are_refused() -> None:
    import httpx

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
    import httpx

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
