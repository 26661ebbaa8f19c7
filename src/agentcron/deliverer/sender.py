"""One delivery attempt over HTTP: the body signed per the Standard Webhooks specification (the
``standardwebhooks`` library), POSTed to an address checked like every outbound request of the server
(`agentcron.engine.net`: checked again at every attempt, since DNS answers change), redirects not followed."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from agentcron import __version__
from agentcron.engine.net import AllowList, BlockedAddress, in_order, pin
from agentcron.store.webhooks import Delivery


@dataclass(slots=True)
class Sent:
    """What came of an attempt: the answer's status (None: no answer) and, unless 2xx, why it failed."""

    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


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
    """Sends attempts through one HTTP client (connections kept alive per pinned address)."""

    def __init__(self, allow: AllowList, timeout_ms: int, max_connections: int) -> None:
        self.allow = allow
        self.timeout = timeout_ms / 1000
        self.client = httpx.AsyncClient(
            timeout=self.timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def send(self, delivery: Delivery, now_ms: int) -> Sent:
        """POST the delivery; never raises for what the receiver or the network does."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(delivery, now_ms)
        except TimeoutError:
            return Sent(None, f"timed out after {self.timeout:g} s")
        except BlockedAddress as e:
            return Sent(None, f"refused: {e}")
        except httpx.HTTPError as e:
            return Sent(None, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)

    async def _post(self, delivery: Delivery, now_ms: int) -> Sent:
        target = httpx.URL(delivery.url)
        addresses, host_header, extensions = await pin(target.scheme, target.host, target.port, self.allow)
        headers = {**signed_headers(delivery.secret, delivery.id, now_ms, delivery.body), "host": host_header}

        async def to(addr: str) -> httpx.Response:
            request = self.client.build_request(
                "POST", target.copy_with(host=addr), headers=headers, content=delivery.body, extensions=extensions
            )
            return await self.client.send(request, stream=True)

        response = await in_order(addresses, to, httpx.ConnectError)
        try:  # a short answer is read, so the connection can be kept; a long one is cut
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read > 65_536:
                    break
        finally:
            await response.aclose()
        code = response.status_code
        return Sent(code, None if 200 <= code < 300 else f"HTTP {code}")

    async def close(self) -> None:
        await self.client.aclose()
