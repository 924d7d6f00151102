"""A remote model for the benchmark's `--model http`: an OpenAI-compatible chat completions
endpoint that answers every request after a fixed latency with one valid classification,
served by uvicorn in its own process, so the worker under test pays exactly what it pays
a real remote API: the `openai` client, HTTP and JSON, nothing of the model.

    python -m bench.fake_openai PORT LATENCY_MS      # prints "ready" once listening
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

ANSWER = json.dumps(
    {
        "category": "billing",
        "priority": "normal",
        "language": "en",
        "confidence": 0.9,
        "reasoning": "a fixed answer from the benchmark's remote model",
    }
)


def app(latency_s: float):  # noqa: ANN201 - a Starlette app
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    served = 0

    async def chat(request: Request) -> JSONResponse:
        nonlocal served
        body = await request.json()
        await asyncio.sleep(latency_s)
        served += 1
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        usage = {"prompt_tokens": max(1, prompt_chars // 4), "completion_tokens": 40}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return JSONResponse(
            {
                "id": f"chatcmpl-bench-{served}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body.get("model", "bench-remote"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": ANSWER},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def serve(port: int, latency_ms: float) -> None:
    import uvicorn

    config = uvicorn.Config(
        app(latency_ms / 1000),
        host="127.0.0.1",
        port=port,
        log_level="error",
        access_log=False,
        backlog=4096,
        timeout_keep_alive=60,
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        await task

    asyncio.run(run())


@contextlib.asynccontextmanager
async def fake_openai(latency_ms: float) -> AsyncIterator[tuple[str, int]]:
    """The server in a child process; yields (base URL, pid)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fake_openai", str(port), str(latency_ms),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"fake OpenAI server did not start (exit {await proc.wait()})")
        yield f"http://127.0.0.1:{port}/v1", proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]))
