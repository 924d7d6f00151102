"""Outgoing notices: one JSON POST per notice to a configured webhook (Slack-style
incoming webhooks, an alerting relay). The URL is a secret: it is never logged."""

from __future__ import annotations

import httpx

from contracts import Notification


class WebhookError(RuntimeError):
    pass


class Webhook:
    def __init__(self, url: str, timeout_seconds: float = 10.0) -> None:
        self._url = url
        self._client = httpx.Client(timeout=timeout_seconds)

    def post(self, notice: Notification) -> None:
        """POST the notice; raise WebhookError on a transport error or a non-2xx answer.
        `Idempotency-Key` lets the receiver drop the duplicate a retry may send."""
        try:
            resp = self._client.post(
                self._url,
                json={"text": notice.message, **notice.model_dump(exclude={"message"})},
                headers={"Idempotency-Key": notice.key},
            )
        except httpx.HTTPError as err:
            raise WebhookError(f"webhook unreachable: {type(err).__name__}") from None
        if resp.status_code >= 300:
            raise WebhookError(f"webhook answered HTTP {resp.status_code}")

    def close(self) -> None:
        self._client.close()
