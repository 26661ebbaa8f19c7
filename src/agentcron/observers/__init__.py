"""Observers of the lifecycle signals (`agentcron.signals`): each is one module with a ``connect(signals)``
function, registered by the composition root (`agentcron.runtime`)."""
