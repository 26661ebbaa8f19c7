"""The worker role: claims, runs, leases and outcome writes (see `agentcron.worker.worker`)."""

from agentcron.worker.worker import Worker

__all__ = ["Worker"]
