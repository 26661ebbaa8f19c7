"""A stand-in for a DNS server outside this machine: one name's answers, call by call."""

from __future__ import annotations

import socket
from typing import Any

import pytest


def fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, *answers: list[str]) -> None:
    """Resolve ``name`` to ``answers[0]`` on the first lookup, ``answers[1]`` on the next, and so on (the
    last answer repeats); other names resolve as usual."""
    real = socket.getaddrinfo
    calls = [0]

    def resolver(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        answer = answers[min(calls[0], len(answers) - 1)]
        calls[0] += 1
        return [info for address in answer for info in real(address, port, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
