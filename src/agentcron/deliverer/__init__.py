"""The webhook deliverer: sends the outbox's deliveries, signed, off the path of firing and runs."""

from agentcron.deliverer.service import Deliverer, retry_at

__all__ = ["Deliverer", "retry_at"]
