"""aiflow's payload codecs: encryption with key rotation, the claim check for large payloads,
and a triage run whose whole history is ciphertext, on a real Temporal dev server; old
unencrypted and new encrypted histories both replay under the new worker."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import Replayer, Worker

from activities.store import make_engine
from contracts import Outcome
from protection.blobs import PayloadBlobRow, SqlBlobStore
from protection.codec import (
    CLAIM_CHECK,
    ENCRYPTED,
    ChainCodec,
    ClaimCheckCodec,
    EncryptionCodec,
    PayloadDecodeError,
    build_codec,
    data_converter,
)
from protection.keys import Keyring, KeySettingError, keyring_from, new_key, parse_keys
from tests.conftest import make_settings, running_worker
from tests.test_replay import HISTORIES
from tests.test_triage_workflow import start, ticket
from worker import WORKFLOWS, workflow_runner

CARD = "4111 1111 1111 1111"  # Luhn-valid test card number
API_KEY = "sk-canary0123456789abcdefCANARY"
WORD = "zebracanary"


def keys_json(**keys: str) -> str:
    return json.dumps(keys)


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


# --- the keyring


def test_keys_parse_and_errors_name_the_key_id_never_the_key():
    key = new_key()
    assert list(parse_keys(keys_json(a=key), "X")) == ["a"]
    with pytest.raises(KeySettingError) as err:
        parse_keys(keys_json(a="c2hvcnQ="), "AIFLOW_PAYLOAD_KEYS")
    assert str(err.value) == "key 'a' is not base64 of 32 bytes (aiflow keys new)"
    with pytest.raises(KeySettingError) as err:
        parse_keys("{not json", "AIFLOW_PAYLOAD_KEYS")
    assert str(err.value).startswith("AIFLOW_PAYLOAD_KEYS: not JSON")
    with pytest.raises(KeySettingError) as err:
        keyring_from(keys_json(a=key), None, "b")
    assert str(err.value) == "the active key id 'b' is not among the loaded keys"
    assert key not in repr(keyring_from(keys_json(a=key), None, None))
    assert keyring_from(None, None, None) is None


def test_keys_from_a_file_and_the_environment_merge(tmp_path):
    old, new = new_key(), new_key()
    path = tmp_path / "keys.json"
    path.write_text(keys_json(old=old))
    ring = keyring_from(keys_json(new=new), path, None)
    assert (ring.key_ids, ring.active) == (["old", "new"], "new")


# --- the encryption codec


async def test_encryption_round_trip_hides_the_text_and_names_the_key():
    codec = EncryptionCodec(Keyring(parse_keys(keys_json(k1=new_key()), "t")))
    [sealed] = await codec.encode([plain(f"card {CARD} {WORD}")])
    assert dict(sealed.metadata) == {"encoding": ENCRYPTED, "encryption-key-id": b"k1"}
    assert WORD.encode() not in sealed.data and b"4111" not in sealed.data
    assert await codec.decode([sealed]) == [plain(f"card {CARD} {WORD}")]


async def test_a_rotated_out_key_still_decrypts_and_a_removed_one_is_named():
    a, b = new_key(), new_key()
    before = EncryptionCodec(Keyring(parse_keys(keys_json(a=a), "t")))
    [old] = await before.encode([plain("old history")])
    rotated = EncryptionCodec(Keyring(parse_keys(keys_json(a=a, b=b), "t"), active="b"))
    [new] = await rotated.encode([plain("new history")])
    assert new.metadata["encryption-key-id"] == b"b"
    assert await rotated.decode([old, new]) == [plain("old history"), plain("new history")]
    only_b = EncryptionCodec(Keyring(parse_keys(keys_json(b=b), "t")))
    with pytest.raises(PayloadDecodeError) as err:
        await only_b.decode([old])
    assert str(err.value) == "payload encrypted under key 'a', which is not loaded (loaded: b)"


async def test_tampered_or_foreign_ciphertext_is_refused_and_clear_payloads_pass():
    ring = Keyring(parse_keys(keys_json(k=new_key()), "t"))
    codec = EncryptionCodec(ring)
    [sealed] = await codec.encode([plain("x")])
    flipped = Payload(
        metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    )
    with pytest.raises(PayloadDecodeError) as err:
        await codec.decode([flipped])
    assert str(err.value) == "payload under key 'k': ciphertext failed authentication"
    # sealed for another purpose (a store column) under the same key: does not open
    _, other = ring.seal(plain("x").SerializeToString(), "aiflow-store-v1")
    foreign = Payload(metadata=sealed.metadata, data=other)
    with pytest.raises(PayloadDecodeError):
        await codec.decode([foreign])
    assert await codec.decode([plain("recorded before encryption")]) == [
        plain("recorded before encryption")
    ]


# --- the claim check


async def test_large_payloads_travel_as_references_to_one_blob_of_their_run(tmp_path):
    blobs = SqlBlobStore(make_engine(f"sqlite:///{tmp_path / 'b.db'}"))
    ring = Keyring(parse_keys(keys_json(k=new_key()), "t"))
    codec = ChainCodec([EncryptionCodec(ring), ClaimCheckCodec(blobs, 4096)])
    from temporalio.converter import WorkflowSerializationContext

    codec = codec.with_context(
        WorkflowSerializationContext(namespace="default", workflow_id="wf-1")
    )
    big, small = plain(WORD * 1000), plain("small")
    out = await codec.encode([big, small])
    assert out[0].metadata["encoding"] == CLAIM_CHECK
    assert out[1].metadata["encoding"] == ENCRYPTED
    assert len(out[0].data) < 200
    with Session(blobs.engine) as s:
        rows = s.exec(select(PayloadBlobRow)).all()
    assert [(r.workflow_id, WORD.encode() in r.data) for r in rows] == [("wf-1", False)]
    assert await codec.decode(out) == [big, small]
    with Session(blobs.engine) as s:  # erased with its run
        s.delete(rows[0])
        s.commit()
    with pytest.raises(PayloadDecodeError) as err:
        await codec.decode(out[:1])
    assert str(err.value).endswith("is not in the blob store")


@activity.defn(name="codec_test_echo")
async def echo(text: str) -> str:
    return text.upper()


@workflow.defn(name="CodecTestEcho", sandboxed=False)
class EchoWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            echo,
            text,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


def client_with(env, settings) -> Client:
    return Client(**{**env.client.config(), "data_converter": data_converter(settings)})


async def test_a_3_mib_input_and_result_pass_the_servers_2_mib_limit(env, tmp_path):
    settings = make_settings(tmp_path, payload_keys=keys_json(k=new_key()))
    client = client_with(env, settings)
    text = "a" * (3 * 1024 * 1024)
    queue = f"codec-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[EchoWorkflow], activities=[echo]):
        wid = f"codec-big-{uuid.uuid4().hex[:8]}"
        result = await client.execute_workflow(EchoWorkflow.run, text, id=wid, task_queue=queue)
        assert result == text.upper()
        # without the claim check the server refuses the same input
        bare = env.client
        with pytest.raises(RPCError) as err:
            await bare.execute_workflow(
                "CodecTestEcho", text, id=f"codec-bare-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
        assert err.value.message == "Blob data size exceeds limit."
    # the blobs are the run's: its workflow id, ciphertext only
    with Session(make_engine(settings.store_url)) as s:
        rows = s.exec(select(PayloadBlobRow)).all()
    # the client's input, the activity's input and result, the workflow's result: each
    # encrypted with its own nonce, so four distinct blobs, each written once
    assert len(rows) == 4
    assert {r.workflow_id for r in rows} == {wid}
    assert all(b"aaaa" not in r.data for r in rows)


# --- a triage run, encrypted end to end


def payloads_in(message, skip=("search_attributes", "indexed_fields")):
    """Every Payload in a proto message, except search attributes (indexed, never encoded)."""
    if message.DESCRIPTOR.full_name == "temporal.api.common.v1.Payload":
        yield message
        return
    for field, value in message.ListFields():
        if field.name in skip or field.message_type is None:
            continue
        if hasattr(value, "DESCRIPTOR"):
            yield from payloads_in(value, skip)
            continue
        items = value.values() if hasattr(value, "items") else value  # a map or a list
        for item in items:
            if hasattr(item, "DESCRIPTOR"):
                yield from payloads_in(item, skip)


def event_payloads(event):
    """An event's payloads; of a local activity's marker, not the SDK core's own "data"
    detail (sequence number, activity type, times: never passed to the codec)."""
    marker = event.marker_recorded_event_attributes
    if marker.marker_name == "core_local_activity":
        return [p for key, ps in marker.details.items() if key != "data" for p in ps.payloads]
    return list(payloads_in(event))


async def test_a_triage_run_leaves_only_ciphertext_in_history_and_replays(env, tmp_path):
    settings = make_settings(tmp_path, payload_keys=keys_json(k1=new_key()))
    client = client_with(env, settings)
    raw = ticket(
        body=f"Why was my card {CARD} charged twice on invoice INV-77? {WORD}. My key is {API_KEY}",
    )
    async with running_worker(client, settings):
        handle = await start(client, settings, raw)
        result = await handle.result()
    assert result.outcome == Outcome.RESOLVED
    assert [s.outcome for s in result.steps if s.step == "qa"] == ["fail", "pass"]  # the card
    history = await handle.fetch_history()
    found = [p for event in history.events for p in event_payloads(event)]
    encodings = {p.metadata.get("encoding") for p in found}
    assert len(found) > 10
    assert encodings == {ENCRYPTED}
    text = history.to_json()
    for canary in (WORD, "4111", API_KEY):
        assert canary not in text
    # the same history read through the codec holds the ticket (the check can fail)
    decoded = await build_codec(settings).decode(found)
    assert any(WORD.encode() in p.data for p in decoded)
    # and it replays under the worker's converter; a committed unencrypted history too
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=data_converter(settings),
        workflow_runner=workflow_runner(),
    )
    fresh = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert fresh.replay_failure is None
    old = WorkflowHistory.from_json("x", (HISTORIES / "resolved.json").read_text())
    recorded = await replayer.replay_workflow(old, raise_on_replay_failure=False)
    assert recorded.replay_failure is None


@activity.defn(name="codec_test_fail")
async def fail(text: str) -> str:
    raise ApplicationError(f"could not handle {text}", non_retryable=True)


@workflow.defn(name="CodecTestFail", sandboxed=False)
class FailWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            fail,
            text,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def test_a_failure_message_is_encrypted_too(env, tmp_path):
    settings = make_settings(tmp_path, payload_keys=keys_json(k=new_key()))
    client = client_with(env, settings)
    queue = f"codec-{uuid.uuid4().hex[:8]}"

    async with Worker(client, task_queue=queue, workflows=[FailWorkflow], activities=[fail]):
        handle = await client.start_workflow(
            FailWorkflow.run, WORD, id=f"codec-fail-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    assert WORD in str(err.value.cause.cause)  # decoded for this client
    assert WORD not in (await handle.fetch_history()).to_json()
