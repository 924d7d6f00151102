"""A model worker closes its vendor SDK clients (their aiohttp sessions and connections)
once its workers have stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from activities.gateway import ModelGateway
from tests.conftest import make_settings
from worker import run_workers


async def test_a_stopped_model_worker_has_closed_its_provider_clients(env, tmp_path: Path):
    settings = make_settings(
        tmp_path, local_base_url="http://127.0.0.1:9/v1", search_attributes="off"
    )
    built: list[ModelGateway] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_workers(
            settings, env.client, stop, {"models"}, model_worker_hook=lambda g, _: built.append(g)
        )
    )
    async with asyncio.timeout(30):
        while not built:
            await asyncio.sleep(0.05)
    gateway = built[0]
    local = gateway.providers["local"]
    assert (sorted(gateway.providers), local._client.is_closed()) == (["local", "offline"], False)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert local._client.is_closed() is True
