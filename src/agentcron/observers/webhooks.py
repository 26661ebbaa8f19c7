"""Webhook deliveries, observed: Prometheus series (attempts by event type and result, attempt durations,
deliveries in flight) and a log line for every attempt that failed (WARNING while it will be retried, ERROR
when the delivery is given up). Fed by `WebhooksAttempted`; labels are closed sets (event types, results).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agentcron.observers.metrics import Family, Metrics
from agentcron.signals import Signals, WebhooksAttempted

log = logging.getLogger("agentcron.webhooks")
#: seconds an attempt took (a receiver answers in milliseconds; the timeout is 10 s by default)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: an attempt's result: the receiver answered 2xx, or it failed and will be retried, or it was given up
RESULTS = {"delivered": "delivered", "pending": "retry", "failed": "failed"}


class WebhookObserver:
    def __init__(self, metrics: Metrics | None) -> None:
        self.attempts = Family(
            "agentcron_webhook_attempts",
            "Webhook delivery attempts this process made, by event type and result (delivered, retry, failed: "
            "given up)",
            "counter",
            ["event", "result"],
        )
        self.duration = Family(
            "agentcron_webhook_attempt_duration_seconds",
            "How long a webhook delivery attempt took, by result",
            "histogram",
            ["result"],
            DURATION_BUCKETS,
        )
        self.in_flight = Family("agentcron_webhook_deliveries_in_flight", "Webhook deliveries being sent", "gauge")
        if metrics is not None:
            metrics.families += [self.attempts, self.duration, self.in_flight]

    def track_in_flight(self, count: Callable[[], float]) -> None:
        self.in_flight.function = count

    def on_attempted(self, sig: WebhooksAttempted) -> None:
        for a in sig.attempts:
            result = RESULTS.get(a.status, a.status)
            self.attempts(a.event_type, result).value += 1
            self.duration(result).observe(a.duration_ms / 1000)
            if a.status == "delivered":
                continue
            retried = a.status == "pending"
            then = "it will be retried" if retried else "given up: it failed for the whole retry period"
            log.log(
                logging.WARNING if retried else logging.ERROR,
                "webhook delivery %s (%s) to webhook %s failed, attempt %d: %s; %s",
                a.delivery_id,
                a.event_type,
                a.webhook_id,
                a.attempt,
                a.error,
                then,
                extra={
                    "fields": {
                        "event": "webhook.failed" if retried else "webhook.given_up",
                        "delivery": a.delivery_id,
                        "webhook": a.webhook_id,
                        "account": a.account_id,
                        "eventType": a.event_type,
                        "attempt": a.attempt,
                        "statusCode": a.status_code,
                        "error": a.error,
                    }
                },
            )


def connect(signals: Signals, metrics: Metrics | None) -> WebhookObserver:
    observer = WebhookObserver(metrics)
    signals.connect(WebhooksAttempted, observer.on_attempted)
    return observer
