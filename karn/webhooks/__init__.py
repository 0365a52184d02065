"""Outbound webhooks: events sent, signed, to the endpoints administrators register.

An event is written to an outbox (one delivery per subscribed endpoint) in the
transaction of what caused it (``karn.webhooks.events.emit``), and the worker
posts it (``karn.webhooks.delivery``) until the endpoint answers 2xx: at least
once, always with the same ``webhook-id``.
"""
