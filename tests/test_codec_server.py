"""The codec server: Temporal's remote codec protocol over aiflow's codec, its operator
auth (Bearer token, browser session cookie), CORS for the UI's origin only, bounded bodies,
a seeded fuzz of hostile requests, and the real `temporal` CLI decoding a dev-server
history through it."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from protection.codec import ENCRYPTED, KEY_ID, EncryptionCodec, build_codec, data_converter
from protection.keys import Keyring, new_key
from starter import codec_cmd
from starter.codec_server import (
    COOKIE,
    MAX_REQUEST_BYTES,
    UNDECODED,
    bound_port,
    build_server,
    create_app,
)
from tests.conftest import _binary, make_settings

OPS_TOKEN = "ops-token-0123456789abcdef"
UI = "http://127.0.0.1:8233"
CANARY = "codec-canary-7f3e-mango"
JSON_PLAIN = base64.b64encode(b"json/plain").decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def codec_settings(tmp_path: Path, **overrides):
    values = {
        "payload_keys": json.dumps({"k1": new_key()}),
        "codec_tokens": {"ops@example.com": OPS_TOKEN},
        "codec_cors_origins": [UI],
    }
    return make_settings(tmp_path, **(values | overrides))


@pytest.fixture
def s(tmp_path):
    return codec_settings(tmp_path)


@pytest.fixture
def web(s) -> Iterator[TestClient]:
    app = create_app(build_codec(s), s.codec_tokens, s.codec_cors_origins)
    with TestClient(app, base_url="http://127.0.0.1:8081") as client:
        yield client


def bearer(token: str = OPS_TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "x-namespace": "default"}


def plain_json(text: str) -> dict:
    return {"metadata": {"encoding": JSON_PLAIN}, "data": b64(json.dumps(text).encode())}


def encode(web: TestClient, *texts: str) -> list[dict]:
    answer = web.post(
        "/encode", json={"payloads": [plain_json(t) for t in texts]}, headers=bearer()
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["payloads"]


# --- the protocol


def test_encode_then_decode_round_trips_and_the_wire_form_is_ciphertext(web):
    sealed = encode(web, CANARY, "second")
    assert [base64.b64decode(p["metadata"]["encoding"]) for p in sealed] == [ENCRYPTED] * 2
    assert [base64.b64decode(p["metadata"][KEY_ID]) for p in sealed] == [b"k1", b"k1"]
    assert CANARY not in json.dumps(sealed)
    assert CANARY.encode() not in base64.b64decode(sealed[0]["data"])
    answer = web.post(
        "/decode?preserveStorageRefs=true", json={"payloads": sealed}, headers=bearer()
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {"payloads": [plain_json(CANARY), plain_json("second")]}


def test_only_the_last_path_segment_names_the_operation(web):
    sealed = encode(web, CANARY)
    answer = web.post("/default/codec/decode", json={"payloads": sealed}, headers=bearer())
    assert answer.json() == {"payloads": [plain_json(CANARY)]}
    assert web.post("/nothing", json={}, headers=bearer()).status_code == 404
    assert web.post("/nothing").json() == {
        "error": "no such endpoint (POST .../encode or .../decode)"
    }
    assert web.get("/decode", headers=bearer()).json() == {"error": "method not allowed"}


def test_an_empty_list_and_unencrypted_payloads_pass_through(web):
    assert web.post("/decode", json={"payloads": []}, headers=bearer()).json() == {"payloads": []}
    answer = web.post("/decode", json={"payloads": [plain_json("clear")]}, headers=bearer())
    assert answer.json() == {"payloads": [plain_json("clear")]}


def test_a_payload_under_a_key_not_loaded_comes_back_unchanged_and_marked(web):
    other_key = new_key()
    other = EncryptionCodec(Keyring({"retired-2024": base64.urlsafe_b64decode(other_key)}))
    foreign = asyncio.run(
        other.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"old secret"')])
    )[0]
    foreign_json = {
        "metadata": {k: b64(v) for k, v in foreign.metadata.items()},
        "data": b64(foreign.data),
    }
    mine = encode(web, CANARY)[0]
    answer = web.post("/decode", json={"payloads": [foreign_json, mine]}, headers=bearer())
    assert answer.status_code == 200
    first, second = answer.json()["payloads"]
    assert second == plain_json(CANARY)
    assert first["data"] == foreign_json["data"]
    reason = base64.b64decode(first["metadata"].pop(UNDECODED)).decode()
    assert first["metadata"] == foreign_json["metadata"]
    assert reason == "payload encrypted under key 'retired-2024', which is not loaded (loaded: k1)"
    assert other_key not in answer.text


def test_tampered_and_truncated_ciphertext_is_marked_not_decoded(web):
    sealed = encode(web, CANARY)[0]
    data = base64.b64decode(sealed["data"])
    for broken in (data[:-1] + bytes([data[-1] ^ 1]), data[:20], b""):
        item = sealed | {"data": b64(broken)}
        answer = web.post("/decode", json={"payloads": [item]}, headers=bearer())
        assert answer.status_code == 200
        (out,) = answer.json()["payloads"]
        assert out.get("data", "") == item["data"]
        assert base64.b64decode(out["metadata"][UNDECODED]).decode() in (
            "payload under key 'k1': ciphertext failed authentication",
            "payload under key 'k1': ciphertext too short",
        )


def test_a_large_payload_is_claim_checked_and_comes_back_whole(web, s):
    big = CANARY + "x" * (s.claim_check_bytes + 10)
    (sealed,) = encode(web, big)
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"json/aiflow-claim-check"
    assert len(json.dumps(sealed)) < 500
    answer = web.post("/decode", json={"payloads": [sealed]}, headers=bearer())
    assert answer.json() == {"payloads": [plain_json(big)]}


# --- who may ask


def test_decoding_needs_an_operator_token(web):
    sealed = encode(web, CANARY)
    body = {"payloads": sealed}
    for headers in (
        {},
        {"authorization": "Bearer"},
        {"authorization": "Bearer wrong-token-0123456789"},
        {"authorization": f"Basic {OPS_TOKEN}"},
        {"authorization": f"Bearer {OPS_TOKEN}x"},
        {"authorization": "Bearer wrong", "cookie": f"{COOKIE}=forged.value"},
    ):
        answer = web.post("/decode", json=body, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json() == {
            "error": "authentication required: Authorization: Bearer <token of "
            "AIFLOW_CODEC_TOKENS>, or log in at /login"
        }
        assert answer.headers["www-authenticate"] == 'Bearer realm="aiflow codec"'
        assert CANARY not in answer.text
    assert web.post("/decode", json=body, headers=bearer()).status_code == 200
    lower = {"authorization": f"bearer  {OPS_TOKEN} "}
    assert web.post("/decode", json=body, headers=lower).status_code == 200


def login(web: TestClient, token: str = OPS_TOKEN, origin: str = "http://127.0.0.1:8081"):
    return web.post(
        "/login",
        content=f"token={token}",
        headers={"content-type": "application/x-www-form-urlencoded", "origin": origin},
    )


def test_a_browser_logs_in_and_its_cookie_counts_only_from_the_ui_origin(web):
    sealed = encode(web, CANARY)
    assert web.get("/login").status_code == 200
    refused = login(web, "not-the-token-0123456789")
    assert refused.status_code == 401
    assert COOKIE not in refused.cookies
    assert login(web, origin="http://evil.example").status_code == 403
    ok = login(web)
    assert ok.status_code == 200
    assert "Logged in as <strong>ops@example.com</strong>" in ok.text
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert OPS_TOKEN not in cookie
    body = {"payloads": sealed}
    from_ui = web.post("/decode", json=body, headers={"origin": UI})
    assert from_ui.json() == {"payloads": [plain_json(CANARY)]}
    assert from_ui.headers["access-control-allow-origin"] == UI
    assert from_ui.headers["access-control-allow-credentials"] == "true"
    # the same cookie from another origin, or with no origin at all: not an operator
    assert (
        web.post("/decode", json=body, headers={"origin": "http://127.0.0.1:9999"}).status_code
        == 401
    )
    assert web.post("/decode", json=body).status_code == 401
    # logged out: the cookie is gone
    out = web.post("/logout", headers={"origin": "http://127.0.0.1:8081"})
    assert out.status_code == 200
    assert web.post("/decode", json=body, headers={"origin": UI}).status_code == 401


def test_failed_logins_are_limited_per_address(web):
    for _ in range(20):
        assert login(web, "not-the-token-0123456789").status_code == 401
    limited = login(web)  # even the right token, until the window passes
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "600"
    assert web.post("/decode", json={"payloads": []}, headers=bearer()).status_code == 200


def test_unusable_settings_are_refused_naming_the_setting(s):
    codec = build_codec(s)
    with pytest.raises(ValueError, match="no operator can authenticate"):
        create_app(codec, {}, [UI])
    with pytest.raises(ValueError) as err:
        create_app(codec, {"ops": SecretStr("short")}, [UI])
    assert str(err.value) == "AIFLOW_CODEC_TOKENS: token of 'ops' is shorter than 16 characters"
    with pytest.raises(ValueError) as err:
        create_app(codec, s.codec_tokens, ["http://ui.example/path"])
    assert str(err.value) == (
        "AIFLOW_CODEC_CORS_ORIGINS: 'http://ui.example/path' is not scheme://host[:port]"
    )


# --- CORS


def preflight(web: TestClient, origin: str):
    return web.options(
        "/decode",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-namespace",
        },
    )


def test_the_ui_origin_gets_its_preflight_and_no_other_origin_gets_cors(web):
    ok = preflight(web, UI)
    assert ok.status_code == 204
    assert {k: v for k, v in ok.headers.items() if k.startswith("access-control-")} == {
        "access-control-allow-origin": UI,
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "POST, OPTIONS",
        "access-control-allow-headers": "authorization, content-type, x-namespace",
        "access-control-max-age": "600",
    }
    for origin in ("http://evil.example", "http://127.0.0.1:8234", "null"):
        refused = preflight(web, origin)
        assert refused.status_code == 403
        assert refused.json() == {"error": "origin not allowed (AIFLOW_CODEC_CORS_ORIGINS)"}
        assert not [k for k in refused.headers if k.startswith("access-control-")]
        answer = web.post("/decode", json={"payloads": []}, headers=bearer() | {"origin": origin})
        assert answer.status_code == 200  # a token is a token; the browser will not let it read
        assert not [k for k in answer.headers if k.startswith("access-control-")]
    assert "Origin" in web.post("/decode", json={"payloads": []}).headers["vary"]


# --- bounds


def test_bodies_over_the_limit_are_refused_while_reading(web):
    big = b'{"payloads": [' + b" " * MAX_REQUEST_BYTES + b"]}"
    answer = web.post(
        "/decode", content=big, headers=bearer() | {"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json() == {"error": f"body larger than {MAX_REQUEST_BYTES} bytes"}
    pulled, sent = asyncio.run(stream_to(web.app, chunks=100, size=256 * 1024))
    assert sent[0]["status"] == 413  # no Content-Length: refused once past the limit,
    assert pulled == MAX_REQUEST_BYTES // (256 * 1024) + 1  # not after buffering 25 MiB


async def stream_to(app, chunks: int, size: int) -> tuple[int, list[dict]]:
    """POST /decode to the ASGI app in `chunks` body messages; (messages it read, sent)."""
    pulled, sent = 0, []

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b" " * size, "more_body": pulled < chunks}

    async def send(message):
        sent.append(message)

    headers = [(k.encode(), v.encode()) for k, v in bearer().items()]
    headers.append((b"content-type", b"application/json"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/decode",
        "raw_path": b"/decode",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8081),
        "root_path": "",
    }
    await app(scope, receive, send)
    return pulled, sent


def test_malformed_bodies_get_a_one_line_error(web):
    cases = {
        b"{not json": "body is not JSON",
        b"[]": 'body is not {"payloads": [...]} (temporal.api.common.v1.Payloads)',
        b'{"payloads": {}}': "payloads is not a list",
        b'{"payloads": [1]}': "payload 0 is not an object",
        b'{"payloads": [{"data": "!!!!"}]}': "payload 0: data is not base64",
        b'{"payloads": [{"data": "QUJDR"}]}': "payload 0: data is not base64",
        b'{"payloads": [{"metadata": {"e": 5}}]}': "payload 0: metadata value 'e' is not base64",
        b'{"payloads": [{"metadata": []}]}': "payload 0: metadata is not an object",
        b'{"payloads": [{"secret": "x"}]}': (
            "payload 0 has unknown fields (Payload has metadata, data)"
        ),
        b"[" * 100_000: "body is not JSON",
        b"\xff\xfe{": "body is not JSON",
    }
    for body, message in cases.items():
        answer = web.post(
            "/decode", content=body, headers=bearer() | {"content-type": "application/json"}
        )
        assert (answer.status_code, answer.json()) == (400, {"error": message}), body[:40]
    wrong_type = web.post(
        "/decode", content=b"{}", headers=bearer() | {"content-type": "text/plain"}
    )
    assert (wrong_type.status_code, wrong_type.json()) == (
        415,
        {"error": "content-type must be application/json"},
    )


# --- a seeded fuzz of hostile requests


def fuzz_case(rng: random.Random, sealed: list[dict]) -> tuple[str, bytes, dict[str, str], bool]:
    """(path, body, headers, authenticated) for one hostile or valid request."""
    auth = rng.random() < 0.7
    headers = (
        bearer()
        if auth
        else rng.choice(
            [
                {},
                {"authorization": "Bearer " + "x" * rng.randint(0, 40)},
                {"authorization": "Basic a"},
                {"cookie": f"{COOKIE}=a.b"},
                {"authorization": OPS_TOKEN},
            ]
        )
    )
    headers["content-type"] = rng.choice(
        ["application/json"] * 6 + ["text/plain", "application/json; charset=utf-8", "", "x/y"]
    )
    if rng.random() < 0.2:
        headers["origin"] = rng.choice([UI, "http://evil.example", "null"])
    item = dict(rng.choice(sealed))
    kind = rng.randrange(12)
    if kind == 0:  # valid
        body: object = {"payloads": [item]}
    elif kind == 1:  # bad base64
        junk = "".join(rng.choice("!@#$%^&*()<>?~ \n\t=AQ") for _ in range(rng.randint(1, 30)))
        body = {"payloads": [item | {rng.choice(["data", "metadata"]): junk}]}
    elif kind == 2:  # wrong key id
        key_id = rng.choice(["", "k2", "../../etc", "x" * 500, "\u202e", "k1\x00"])
        body = {
            "payloads": [item | {"metadata": item["metadata"] | {KEY_ID: b64(key_id.encode())}}]
        }
    elif kind == 3:  # truncated or flipped ciphertext
        data = base64.b64decode(item["data"])
        cut = (
            data[: rng.randrange(len(data))]
            if rng.random() < 0.5
            else bytes(b ^ (1 if i == rng.randrange(len(data)) else 0) for i, b in enumerate(data))
        )
        body = {"payloads": [item | {"data": b64(cut)}]}
    elif kind == 4:  # nested garbage
        depth = rng.choice([3, 50, 5000, 200_000])
        body = "[" * depth + "]" * rng.choice([0, depth])
    elif kind == 5:  # random bytes
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    elif kind == 6:  # wrong shapes
        body = rng.choice(
            [
                [],
                {},
                {"payloads": None},
                {"payloads": "x"},
                {"payloads": [[]]},
                {"payloads": [{}]},
                {"payloads": [{"metadata": {"a": None}}]},
                {"extra": 1},
                7,
                "s",
                None,
                {"payloads": [{"externalPayloads": "x"}]},
                {"payloads": [{"externalPayloads": [{}]}]},
                {"payloads": [{"data": 12}]},
                {"payloads": [item] * 2000},
            ]
        )
    elif kind == 7:  # oversized
        body = b'{"payloads": ["' + b"A" * (MAX_REQUEST_BYTES + rng.randint(1, 1000)) + b'"]}'
    elif kind == 8:  # huge numbers, odd unicode
        body = rng.choice(
            [
                '{"payloads": [' + "9" * 5000 + "]}",
                '{"payloads": [{"data": "\ud800"}]}',
                '{"payloads": [{"metadata": {"\u0000": "QQ=="}}]}',
                '{"payloads":[1e9999]}',
            ]
        )
    elif kind == 9:  # metadata of every kind of junk
        body = {
            "payloads": [
                {"metadata": {str(rng.random()): rng.choice([b64(b"x"), "", "====", "-_"])}}
            ]
        }
    elif kind == 10:  # several valid
        body = {"payloads": [dict(rng.choice(sealed)) for _ in range(rng.randint(1, 5))]}
    else:  # a claim-check reference that points nowhere
        ref = json.dumps({"ref": rng.choice(["sha256:00", "", 5, None])}).encode()
        claim = {"metadata": {"encoding": b64(b"json/aiflow-claim-check")}, "data": b64(ref)}
        body = {"payloads": [claim]}
    if isinstance(body, bytes):
        raw = body
    elif isinstance(body, str):
        raw = body.encode("utf-8", "surrogatepass")
    else:
        raw = json.dumps(body).encode()
    path = rng.choice(
        ["/decode", "/decode", "/encode", "/ns/decode", "/decode?preserveStorageRefs=true"]
    )
    return path, raw, headers, auth


def test_fuzz_every_answer_is_a_clear_4xx_or_a_correct_200(web):
    rng = random.Random(20260321)
    sealed = encode(web, CANARY, CANARY + " two")
    statuses: dict[int, int] = {}
    for n in range(600):
        path, raw, headers, auth = fuzz_case(rng, sealed)
        answer = web.post(path, content=raw, headers=headers)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        assert answer.headers["content-type"] == "application/json", (n, answer.text[:200])
        data = answer.json()
        assert "Traceback" not in answer.text
        if not auth:
            assert answer.status_code == 401, (n, path, headers)
            assert CANARY not in answer.text
            continue
        if answer.status_code == 200:
            assert set(data) == {"payloads"} and isinstance(data["payloads"], list)
            for p in data["payloads"]:  # decoded exactly, or returned marked
                if CANARY in json.dumps(p) or UNDECODED in p.get("metadata", {}):
                    continue
                assert path.startswith("/encode") or p.get("metadata", {}).get("encoding") != b64(
                    ENCRYPTED
                ), (n, p)
        else:
            assert 400 <= answer.status_code < 500, (n, answer.status_code, answer.text[:200])
            assert set(data) == {"error"} and "\n" not in data["error"], (n, data)
            assert len(data["error"]) < 200
    assert statuses[401] > 100 and statuses[200] > 100 and statuses[400] > 50, statuses
    assert 500 not in statuses and 503 not in statuses


# --- the command


def test_keys_new_prints_a_line_the_settings_accept(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIFLOW_PAYLOAD_KEYS", json.dumps({"k20260321": new_key()}))
    assert codec_cmd.keys_main(["new"]) == 0
    out, err = capsys.readouterr()
    name, _, value = out.strip().partition("=")
    assert name == "AIFLOW_PAYLOAD_KEYS"
    ((key_id, key),) = json.loads(value).items()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert key_id.startswith("k") and key_id not in ("k20260321",)
    assert key not in err and "add it LAST" in err
    assert codec_cmd.keys_main(["new", "--id", "k20260321"]) == 2
    assert capsys.readouterr().err == (
        "aiflow keys: key id 'k20260321' is already configured; choose another --id\n"
    )


def test_codec_serve_without_operators_is_a_usage_error(tmp_path):
    s = codec_settings(tmp_path, codec_tokens={})
    with pytest.raises(codec_cmd.CliError) as err:
        asyncio.run(codec_cmd.serve(s, None, None))
    assert str(err.value) == (
        "no operator can authenticate: set AIFLOW_CODEC_TOKENS (see .env.example)"
    )


# --- the real `temporal` CLI through the server


@asynccontextmanager
async def serving(settings) -> AsyncIterator[str]:
    """The codec server under uvicorn on an ephemeral port; yields its endpoint."""
    server = build_server(settings, build_codec(settings), host="127.0.0.1", port=0)
    task = asyncio.create_task(server.serve())
    for _ in range(100):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{bound_port(server)}"
    finally:
        server.should_exit = True
        await task


async def start_encrypted(env, settings, text: str) -> str:
    """A workflow (no worker: it just waits) whose input `text` is encrypted; its id."""
    target = env.client.service_client.config.target_host
    client = await Client.connect(
        target, namespace=env.client.namespace, data_converter=data_converter(settings)
    )
    workflow_id = f"codec-{uuid.uuid4().hex[:8]}"
    await client.start_workflow(
        "CodecCanary", text, id=workflow_id, task_queue=f"codec-{uuid.uuid4().hex[:8]}"
    )
    return workflow_id


async def temporal_show(env, workflow_id: str, *codec: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        _binary("temporal"),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--address",
        env.client.service_client.config.target_host,
        "--namespace",
        env.client.namespace,
        "--output",
        "json",
        *codec,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_the_temporal_cli_shows_the_input_only_through_the_codec_server(env, tmp_path):
    s = codec_settings(tmp_path)
    workflow_id = await start_encrypted(env, s, CANARY)
    code, out, err = await temporal_show(env, workflow_id)
    assert code == 0, err
    (sealed,) = started_input(out)
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCRYPTED
    assert CANARY not in out and plain_json(CANARY)["data"] not in out
    async with serving(s) as endpoint:
        code, out, err = await temporal_show(
            env, workflow_id, "--codec-endpoint", endpoint, "--codec-auth", f"Bearer {OPS_TOKEN}"
        )
        assert code == 0, err
        assert started_input(out) == [plain_json(CANARY)]
        assert json.loads(base64.b64decode(started_input(out)[0]["data"])) == CANARY
        code, out, err = await temporal_show(
            env,
            workflow_id,
            "--codec-endpoint",
            endpoint,
            "--codec-auth",
            "Bearer wrong-0123456789ab",
        )
        # a refused codec call fails the whole command (the CLI retries it until its
        # deadline): nothing is shown, so /decode answers undecodable payloads unchanged
        assert (code, out) == (1, ""), (code, out[:300])
        assert CANARY not in err


def started_input(show_json: str) -> list[dict]:
    """The input payloads of the WorkflowExecutionStarted event in `temporal workflow show
    --output json` (the CLI prints payloads in their proto3 JSON form)."""
    first = json.loads(show_json)["events"][0]
    return first["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
