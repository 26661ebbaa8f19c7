"""Bearer-secret authentication: ``authorization: Bearer <secret>`` names exactly one account."""

from __future__ import annotations

from typing import Any

from litestar import Request

from agentcron.errors import ApiError
from agentcron.store.base import Store


async def account_of(request: Request[Any, Any, Any], store: Store) -> str:
    """The authenticated account id. Raises `ApiError` 401 when the secret is missing or unknown."""
    # Straight from the ASGI scope: building Litestar's Headers object costs more than the lookup itself.
    header = ""
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            header = value.decode("latin-1")
            break
    scheme, _, secret = header.partition(" ")
    # docs.cbk.ai shows "Token <secret>"; the SDKs send "Bearer <secret>": accept both.
    if scheme.lower() not in ("bearer", "token") or not secret.strip():
        raise ApiError(401, "Missing API secret: send 'Authorization: Bearer <secret>'")
    account_id = await store.accounts.account_for_secret(secret.strip())
    if account_id is None:
        raise ApiError(401, "Invalid API secret")
    return account_id
