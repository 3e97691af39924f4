"""CloudEvents export, OpenMeter style: one CloudEvents 1.0 event per spend row, POSTed in batches as
``application/cloudevents-batch+json`` (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md#4-json-batch-format)
to a configurable URL (OpenMeter's ``/api/v1/events`` takes exactly this), with an optional bearer token.

A batch is one request, so it is delivered or not as a whole: 2xx delivers every event; 429, 408, 5xx and
connection errors are retried with backoff; 401, 403, 404, 405 and 413 halt the exporter (a wrong token, URL, or a
batch too big for the receiver: lower ``batch_size``); any other 4xx refuses the batch's events, each recorded with
the receiver's answer. Receivers drop copies by ``source`` + ``id`` (OpenMeter does), and the id is the spend
row's, so a batch sent again after a crash is harmless.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from tollway.economics.export_backoff import Answer, RetryPolicy
from tollway.economics.export_base import Exporter, StripeLookup
from tollway.economics.export_mapping import Batch, Outcome, UsageRow, cloud_events
from tollway.economics.export_settings import CloudEventsSettings

if TYPE_CHECKING:
    import aiohttp

__all__ = ["BATCH_CONTENT_TYPE", "CloudEventsExporter"]

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
_DETAIL_BYTES = 500  # of the receiver's answer kept with a refused event


class CloudEventsExporter(Exporter):
    """CloudEvents batches to one URL (see the module docstring)."""

    name = "cloudevents"

    def __init__(
        self,
        settings: CloudEventsSettings,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(policy, sleep=sleep, rng=rng)
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def prepare(self, rows: Sequence[UsageRow], lookup: StripeLookup, now: datetime) -> Batch:
        """One event per row with a customer (no lookup needed: the subject is the tollway customer id)."""
        return cloud_events(rows, self.settings)

    async def send(self, events: Mapping[str, Any]) -> tuple[dict[str, Outcome], str | None]:
        """POST every event in one batch; the same outcome for all of them."""
        if not events:
            return {}, None
        body = orjson.dumps(list(events.values()))
        outcome = await self._with_retries(lambda: self._post(body))
        if outcome.kind == "halt":
            return {}, f"{self.settings.url} answered {outcome.status}: {outcome.detail}"
        return dict.fromkeys(events, outcome), None

    async def _post(self, body: bytes) -> Answer:
        import aiohttp

        headers = {"Content-Type": BATCH_CONTENT_TYPE}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        try:
            async with self._session.post(
                self.settings.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                text = (await response.content.read(_DETAIL_BYTES)).decode("utf-8", "replace")
                return Answer(response.status, text.strip() or response.reason or "", dict(response.headers))
        except (aiohttp.ClientError, TimeoutError) as error:
            return Answer(None, f"{type(error).__name__}: {error}".rstrip(": "))

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
