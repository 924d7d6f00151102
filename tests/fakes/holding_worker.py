"""`python worker.py --queues models`, except that no model_call result is ever sent: once
the activity function has returned (the provider answered, the gateway committed the
answer to the response log), the worker logs `model_call.held` and waits to be killed.

It is aiflow's own worker (settings from the environment, `worker.run_workers`); the hold
is an activity interceptor added through `build_workers`' `model_worker_hook`."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

import worker
from activities.gateway import ModelGateway
from settings import Settings

log = structlog.get_logger("aiflow.test.holding_worker")


class HoldResults(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        class _Hold(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                result = await self.next.execute_activity(input)
                info = activity.info()
                log.info("model_call.held", workflow_id=info.workflow_id, attempt=info.attempt)
                await asyncio.Event().wait()  # until SIGKILL
                return result

        return _Hold(next)


def hold_results(_gateway: ModelGateway, options: dict[str, Any]) -> None:
    options["interceptors"] = [*options.get("interceptors", []), HoldResults()]


async def main() -> None:
    settings = Settings()
    worker.configure_logging(settings)
    client = await worker.connect(settings)
    stop = asyncio.Event()
    await worker.run_workers(settings, client, stop, {"models"}, model_worker_hook=hold_results)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
