"""The HTTP transport the vendor SDK clients share (imported only with those providers).

A model worker keeps hundreds of calls in flight to one provider. The SDKs' default httpx2
pool checks every pooled connection on each request and release, and keeps only 100 of
them alive: at 500 calls in flight that cost the worker 7.4 ms of event-loop CPU per call
(`python -m bench.model_throughput --model http`). Both SDKs therefore use their aiohttp
transport (their `aiohttp` extra), with every connection kept alive for reuse: 3.0 ms per
call, 2.3x the calls/s. It reports a refused connection as a connect timeout;
`activities.errors.sdk_error` tells the two apart. Workers close the clients on exit.
"""

from __future__ import annotations

import httpx2

CONNECTION_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=1000)
