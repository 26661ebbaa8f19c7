"""The HTTP API (Litestar): ChatBotKit-compatible paths under ``/api/v1``."""
