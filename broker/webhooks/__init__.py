"""Pushed notifications (docs/webhooks.md): events for partners' webhooks, queued in the outbox in
the transaction of the change they announce (``events``), signed per the Standard Webhooks
specification (``signing``) and delivered at least once by a background worker with retries,
back-off and a dead-letter list (``delivery``)."""
