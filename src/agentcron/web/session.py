"""The console's session: a sealed cookie holding the API secret the operator signed in with.

The cookie is encrypted and authenticated with AES-256-GCM (`cryptography`) under a key derived from
``AGENTCRON_SESSION_KEY`` (random per process when unset, with a warning: sessions then end on restart).
It holds the secret itself, so every request checks it again through the same lookup as the API
(`agentcron.api.auth`): a revoked secret or a deleted account ends the session at the next request.
It also holds the session's CSRF token, which every state-changing request must echo (hidden form field
``csrf`` or header ``X-CSRF-Token``). Litestar's own cookie session cannot decide the ``Secure`` flag per
request nor take the token from our field, hence this module (60 lines around a vetted AEAD).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agentcron.config import Settings

log = logging.getLogger("agentcron.web")

COOKIE = "agentcron_session"
#: a session ends this long after sign-in, whatever happens
MAX_AGE_S = 12 * 3600
_AAD = b"agentcron-console-session-v1"


class SessionData(msgspec.Struct, frozen=True):
    #: the API secret signed in with
    s: str
    #: the CSRF token
    c: str
    #: signed in at (epoch ms)
    t: int


@dataclass(frozen=True, slots=True)
class Sealer:
    """Seals and opens session cookies with one key."""

    key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        """The sealer of ``settings.session_key``; without one, a random key for this process (logged)."""
        if settings.session_key:
            return cls(hashlib.sha256(settings.session_key.encode()).digest())
        log.warning(
            "AGENTCRON_SESSION_KEY is not set: console sessions use a random key and end when this process "
            "restarts (set it, the same in every API process, to keep them)"
        )
        return cls(os.urandom(32))

    def new(self, secret: str, now_ms: int) -> tuple[str, SessionData]:
        """A new session for ``secret``: the cookie value and what it holds."""
        data = SessionData(secret, secrets.token_urlsafe(32), now_ms)
        nonce = os.urandom(12)
        sealed = AESGCM(self.key).encrypt(nonce, msgspec.json.encode(data), _AAD)
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("="), data

    def open(self, value: str, now_ms: int) -> SessionData | None:
        """The session a cookie value holds; None when it was not sealed with this key, or has expired."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = AESGCM(self.key).decrypt(raw[:12], raw[12:], _AAD)
            data = msgspec.json.decode(plain, type=SessionData)
        except (binascii.Error, ValueError, InvalidTag, msgspec.DecodeError):
            return None
        if not 0 <= now_ms - data.t <= MAX_AGE_S * 1000:
            return None
        return data


def same_token(sent: str | None, expected: str) -> bool:
    """Whether the CSRF token sent is the session's (constant time)."""
    return sent is not None and secrets.compare_digest(sent.encode(), expected.encode())
