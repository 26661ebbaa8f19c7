"""One delivery attempt over HTTP: the body signed per the Standard Webhooks specification (the
``standardwebhooks`` library), POSTed to an address checked like every outbound request of the server
(`agentcron.engine.net`: checked again at every attempt, since DNS answers change), redirects not followed.

The client is aiohttp's, not httpx's (which the HTTP abilities use): httpcore's pool checks every pooled
connection (a socket poll each) on every request and release, about 8 ms of CPU per request at 32 kept-alive
connections on the benchmark VM against 0.4 ms for aiohttp's (docs/benchmarks.md, Webhooks): it held the
deliverer to ~30 deliveries/s."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from standardwebhooks import Webhook
from yarl import URL

from agentcron import __version__
from agentcron.engine.net import AllowList, BlockedAddress, in_order, pin
from agentcron.store.webhooks import Delivery


@dataclass(slots=True)
class Sent:
    """What came of an attempt: the answer's status (None: no answer) and, unless 2xx, why it failed."""

    status_code: int | None
    error: str | None
    #: the receiver's ``Retry-After`` (seconds or an HTTP date), in ms from the answer; None without one
    retry_after_ms: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_retry_after(value: str | None, now_ms: int) -> int | None:
    """A ``Retry-After`` header's wait in ms (delay-seconds, or an HTTP date compared with ``now_ms``); None
    when absent or unreadable (then the deliverer's own schedule applies)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:
        return None
    return max(0, int(at.timestamp() * 1000) - now_ms)


def signed_headers(secret: str, delivery_id: str, now_ms: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of ``body``: ``webhook-id`` (the delivery's id, the same for every
    attempt), ``webhook-timestamp`` (seconds) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``)."""
    at = datetime.fromtimestamp(now_ms / 1000, UTC)
    return {
        "content-type": "application/json",
        "user-agent": f"agentcron/{__version__}",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(now_ms // 1000),
        "webhook-signature": _signer(secret).sign(delivery_id, at, body),
    }


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


class Sender:
    """Sends attempts through one aiohttp session (connections kept alive per pinned address, at most
    ``max_connections``)."""

    def __init__(self, allow: AllowList, timeout_ms: int, max_connections: int) -> None:
        self.allow = allow
        self.timeout = timeout_ms / 1000
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """(Created at first use: a session belongs to the running event loop.)"""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, use_dns_cache=False),
                auto_decompress=False,
                skip_auto_headers=("accept", "accept-encoding"),
            )
        return self._session

    async def send(self, delivery: Delivery, now_ms: int) -> Sent:
        """POST the delivery; never raises for what the receiver or the network does."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(delivery, now_ms)
        except TimeoutError:
            return Sent(None, f"timed out after {self.timeout:g} s")
        except BlockedAddress as e:
            return Sent(None, f"refused: {e}")
        except (aiohttp.ClientError, ValueError) as e:
            return Sent(None, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)

    async def _post(self, delivery: Delivery, now_ms: int) -> Sent:
        target = URL(delivery.url)
        # (the port as written: a default one stays out of the Host header)
        host = target.raw_host or ""
        addresses, host_header, extensions = await pin(target.scheme, host, target.explicit_port, self.allow)
        headers = {**signed_headers(delivery.secret, delivery.id, now_ms, delivery.body), "host": host_header}
        server_hostname = extensions.get("sni_hostname")

        async def to(addr: str) -> tuple[int, str | None]:
            async with self.session.post(
                target.with_host(addr),
                data=delivery.body,
                headers=headers,
                allow_redirects=False,
                server_hostname=server_hostname,
            ) as response:
                # a short answer is read, so the connection can be kept; a long one is cut (and closed)
                read = 0
                async for chunk in response.content.iter_any():
                    read += len(chunk)
                    if read > 65_536:
                        response.close()
                        break
                return response.status, response.headers.get("retry-after")

        code, retry_after = await in_order(addresses, to, aiohttp.ClientConnectorError)
        if 200 <= code < 300:
            return Sent(code, None)
        return Sent(code, f"HTTP {code}", parse_retry_after(retry_after, now_ms))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
