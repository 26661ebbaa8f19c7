"""The webhook endpoints' part of the OpenAPI document: their words (tag, operations, field descriptions)
and the answers that are not stored resources. `agentcron.api.openapi` builds the paths from these."""

from __future__ import annotations

from typing import Any

from agentcron.store.notices import EVENT_TYPES

TAG = {
    "name": "Webhooks",
    "description": (
        "Extension: signed HTTP notifications of run and task events (Standard Webhooks), delivered at least "
        "once with retries."
    ),
}

OPERATIONS: dict[str, tuple[str, str, str]] = {
    "webhookCreate": (
        "Webhooks",
        "Create a webhook",
        "Registers an endpoint for the listed events (of `taskId` only, or of every task). The URL must be http "
        "or https and resolve to public addresses (or ones the operator allow-lists). Answers `{id, secret}`: "
        "the `whsec_...` signing secret is shown here only.",
    ),
    "webhookList": ("Webhooks", "List webhooks", "The account's webhooks, newest first (cursor pagination)."),
    "webhookFetch": ("Webhooks", "Fetch a webhook", "One webhook; its secret is never shown again."),
    "webhookUpdate": (
        "Webhooks",
        "Update a webhook",
        "Changes the fields sent (`taskId: null`: every task). The secret stays.",
    ),
    "webhookDelete": (
        "Webhooks",
        "Delete a webhook",
        "Deletes the webhook with its deliveries; pending ones are not sent.",
    ),
    "webhookDeliveryList": (
        "Webhooks",
        "List a webhook's deliveries",
        "Each notification sent or to send: event type, status, attempts, last status code and error, next "
        "attempt. Newest first (cursor pagination); `status` and `eventType` filter.",
    ),
}

EXAMPLES = {
    "webhookCreate": {
        "url": "https://93.184.216.34/hooks/agentcron",  # (an address literal: no DNS lookup in tests)
        "events": ["execution.failed", "task.paused"],
        "description": "On-call",
    }
}

FIELD_DOCS: dict[str, dict[str, str]] = {
    "Webhook": {
        "url": "Where notifications are POSTed.",
        "events": "The event types sent: " + ", ".join(EVENT_TYPES) + ".",
        "taskId": "Only this task's events; null: every task of the account.",
    },
    "WebhookDelivery": {
        "eventType": "The event reported.",
        "status": "pending (to send or retry), delivered (a 2xx answer), failed (gave up after the retry period).",
        "attempts": "Attempts made so far.",
        "statusCode": "The HTTP status of the last attempt (null: none, or no answer).",
        "lastError": "Why the last attempt failed (null after a success).",
        "nextAttemptAt": "When the next attempt is due (epoch ms; null once delivered or failed).",
        "deliveredAt": "When a receiver answered 2xx (epoch ms).",
    },
}

RESPONSE_ENUMS: dict[str, dict[str, list[str | None]]] = {
    "delivery": {"status": ["pending", "delivered", "failed"], "eventType": list(EVENT_TYPES)},
}


def answer_schemas() -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "WebhookCreateResult": {
            "type": "object",
            "properties": {
                "id": string,
                "secret": {**string, "description": "The signing secret (whsec_ + base64), shown only here."},
            },
            "required": ["id", "secret"],
        }
    }
