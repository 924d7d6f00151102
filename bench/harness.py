"""Around the model worker under test: the headless dev server, and the driver workflow
that schedules classify calls as the triage workflow does, run by a worker in a child
process (`python -m bench.harness ADDRESS NAMESPACE QUEUE`) so the benchmark's process
holds the model worker alone."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from contracts import ModelStepInput, ModelStepResult, ModelTarget, PromptRef
from contracts.batch import ModelBatchInput, ModelBatchResult
from settings import ROOT
from starter.devserver import temporal_binary

CLASSIFY_MAX_TOKENS = 200  # as workflows/triage.py sends it


class FanoutInput(BaseModel):
    first: int
    calls: int
    concurrency: int
    target: ModelTarget
    prompt: PromptRef
    tickets: list[dict[str, Any]]  # the classify step's variables, cycled
    start_to_close_seconds: float
    batch: int = 1  # calls per activity: >1 uses the gateway's model_call_batch


class FanoutResult(BaseModel):
    ok: int
    errors: list[str]


@workflow.defn(name="aiflow-bench-fanout")
class FanoutWorkflow:
    """Runs `calls` classify model calls, at most `concurrency` activities at a time
    (each activity carrying `batch` calls)."""

    @workflow.run
    async def run(self, inp: FanoutInput) -> FanoutResult:
        gate = asyncio.Semaphore(inp.concurrency)
        errors: list[str] = []
        wf_id = workflow.info().workflow_id
        options: dict[str, Any] = {
            "task_queue": inp.target.queue,
            "start_to_close_timeout": timedelta(seconds=inp.start_to_close_seconds),
            "retry_policy": RetryPolicy(maximum_attempts=1),
        }

        def call(n: int) -> ModelStepInput:
            return ModelStepInput(
                workflow_id=f"{wf_id}-{n}",
                step="classify",
                prompt=inp.prompt,
                target=inp.target,
                variables=inp.tickets[n % len(inp.tickets)],
                max_output_tokens=CLASSIFY_MAX_TOKENS,
            )

        async def one(ns: list[int]) -> None:
            async with gate:
                try:
                    if inp.batch == 1:
                        await workflow.execute_activity(
                            "model_call", call(ns[0]), **options, result_type=ModelStepResult
                        )
                        return
                    batch = await workflow.execute_activity(
                        "model_call_batch",
                        ModelBatchInput(calls=[call(n) for n in ns]),
                        **options,
                        result_type=ModelBatchResult,
                    )
                    errors.extend(
                        f"call {n}: {item.error.type}: {item.error.message}"
                        for n, item in zip(ns, batch.items, strict=True)
                        if item.error is not None
                    )
                except ActivityError as err:
                    errors.extend(f"call {n}: {err.cause or err}" for n in ns)

        numbers = [inp.first + i for i in range(inp.calls)]
        chunks = [numbers[i : i + inp.batch] for i in range(0, len(numbers), inp.batch)]
        await asyncio.gather(*(one(ns) for ns in chunks))
        return FanoutResult(ok=inp.calls - len(errors), errors=errors[:5])


# --- the dev server ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def dev_server(
    db_file: str | None, dynamic_config: list[str], workdir: Path
) -> AsyncIterator[tuple[str, subprocess.Popen]]:
    """A headless dev server on an ephemeral port; yields (address, process)."""
    port = _free_port()
    cmd = [
        temporal_binary(), "server", "start-dev", "--headless",
        "--ip", "127.0.0.1", "--port", str(port), "--log-level", "error",
    ]  # fmt: skip
    if db_file:
        cmd += ["--db-filename", db_file]
    for kv in dynamic_config:
        cmd += ["--dynamic-config-value", kv]
    log_path = workdir / "temporal-dev.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"dev server exited with {proc.returncode}: {log_path.read_text()[-2000:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("dev server not up after 60 s") from None
                await asyncio.sleep(0.1)
        yield address, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def connect_when_ready(address: str, namespace: str, timeout: float = 60) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await Client.connect(
                address, namespace=namespace, data_converter=pydantic_data_converter
            )
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


# --- the driver worker, in its own process -----------------------------------------------


def driver_worker(client: Client, queue: str) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[FanoutWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


@contextlib.asynccontextmanager
async def driver_process(address: str, namespace: str, queue: str) -> AsyncIterator[int]:
    """A child process running the driver workflow's worker; yields its pid. It stops
    when its stdin closes."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.harness", address, namespace, queue,
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"driver process did not start (exit {await proc.wait()})")
        yield proc.pid
    finally:
        if proc.stdin and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def driver_main(address: str, namespace: str, queue: str) -> int:
    async def run() -> None:
        client = await connect_when_ready(address, namespace)
        async with driver_worker(client, queue):
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    import os

    code = driver_main(*sys.argv[1:4])
    sys.stdout.flush()
    os._exit(code)  # skip the teardown that can abort in temporalio 1.35 (see the bench)
