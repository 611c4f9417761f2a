"""Standard Webhooks signatures (standardwebhooks.com, "Signature scheme"): HMAC-SHA256 over
``{webhook-id}.{webhook-timestamp}.{body}`` with the partner's secret, sent as
``webhook-signature: v1,<base64>``, computed by the specification's own library."""

from __future__ import annotations

from datetime import datetime

from standardwebhooks.webhooks import Webhook


def signed_headers(*, secret: str, message_id: str, timestamp: datetime,
                   body: str) -> dict[str, str]:
    """The headers of one delivery attempt. ``timestamp`` is the attempt's (aware, UTC): the
    receiver refuses one outside its tolerance (replay protection, docs/webhooks.md)."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }
