"""Data at rest, on SQLite and PostgreSQL: a card number, an API key and an IBAN written
through every store write path appear nowhere in a raw dump of the database, in "mask"
and "encrypt" modes; in "encrypt" a plain body word is absent too but reads back; old
clear rows still read; keys rotate; a removed key gives SealedValueError; "redact" keeps
lengths only and the pipeline's working data stays usable."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from activities.answer_cache import AnswerCache
from activities.providers.base import ModelResponse
from activities.store import Store
from contracts import (
    Correction,
    NormalizedTicket,
    Notification,
    Outcome,
    PersistRunInput,
    ReviewAction,
    ReviewProposal,
    ReviewRequest,
    Stage,
    StepKind,
    StepRecord,
    TriageResult,
    Usage,
)
from contracts.cache import CacheLookup, CacheRecordInput, CacheWrite
from decisions.sensitive import luhn_ok
from protection import sealed
from protection.keys import Keyring
from protection.sealed import Protection, SealedValueError

CARD = "4539 5787 6362 1486"
IBAN = "DE89 3704 0044 0532 0130 00"
API_KEY = "sk-canaryAbCdEf0123456789xyz"
WORD = "zebracanary"  # not sensitive: only encryption hides it
SECRET_TEXT = f"{WORD}: card {CARD}, IBAN {IBAN}, key {API_KEY}"
MASKED_TEXT = f"{WORD}: card [card ending 1486], IBAN [IBAN ending 3000], key [secret]"
CANARIES = [
    CARD,
    CARD.replace(" ", ""),
    IBAN,
    IBAN.replace(" ", ""),
    API_KEY,
    "sk-canary",
    "3704 0044",
    "5787 6362",
]
T0 = datetime(2026, 5, 4, 9, 0, 0, tzinfo=UTC)
KEY_A, KEY_B = b"A" * 32, b"B" * 32
WF = "wf-protect-1"


def keyring(keys: dict[str, bytes], active: str | None = None) -> Keyring:
    return Keyring(keys, active)


@pytest.fixture(autouse=True)
def _process_default() -> Iterator[None]:
    """Every test names its store's protection; the process default is left as found."""
    before = sealed.current()
    yield
    sealed.use(before)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    return request.getfixturevalue("fresh_pg_url")


def open_store(url: str, protection: Protection) -> Store:
    store = Store(url, protection=protection)
    store.create_schema()
    return store


def raw_dump(store: Store) -> str:
    """Every column of every row as the database holds it, plus (SQLite) the file bytes."""
    out = []
    with store.engine.connect() as conn:
        for table in inspect(store.engine).get_table_names():
            if store.engine.dialect.name == "postgresql":
                rows = conn.execute(text(f'SELECT t::text FROM "{table}" t'))
            else:
                rows = conn.execute(text(f'SELECT * FROM "{table}"'))
            out += [repr(tuple(r)) for r in rows]
    dump = "\n".join(out)
    if store.engine.dialect.name == "sqlite":
        db = Path(store.engine.url.database)
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                dump += path.read_bytes().decode("latin-1")
    return dump


def ticket() -> NormalizedTicket:
    return NormalizedTicket(
        ticket_id="T-1",
        subject=f"Refund {WORD}",
        body=SECRET_TEXT,
        customer_email="ana@example.com",
        channel="email",
        customer_tier="vip",
    )


PROPOSAL = ReviewProposal(category="billing", priority="high", reply=SECRET_TEXT)
FINAL = ReviewProposal(category="billing", priority="high", reply=f"{WORD} refunded")


def review() -> ReviewRequest:
    return ReviewRequest(
        review_id="rv-1",
        version=1,
        workflow_id=WF,
        ticket_id="T-1",
        queue="priority",
        ticket=ticket(),
        proposal=PROPOSAL,
        confidence=0.42,
        reasons=["low_confidence"],
        prompt_versions=["triage.draft@v1"],
        models=["offline-knn-v1"],
        requested_at=T0,
        sla_deadline=T0 + timedelta(hours=24),
    )


def step() -> StepRecord:
    return StepRecord(
        seq=1,
        step="draft",
        kind=StepKind.MODEL,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=1),
        latency_ms=1000.0,
        outcome="ok",
        reasoning=SECRET_TEXT,
        details={"feedback": [SECRET_TEXT], "attempt": 1},
    )


def result() -> TriageResult:
    return TriageResult(
        workflow_id=WF,
        ticket_id="T-1",
        outcome=Outcome.EDITED,
        route="priority",
        category="billing",
        priority="high",
        confidence=0.42,
        reply=SECRET_TEXT,
        cost_usd=0.001,
    )


def answer() -> ModelResponse:
    draft = json.dumps({"reply": SECRET_TEXT, "reasoning": "quoted the card"})
    return ModelResponse(
        text=draft, usage=Usage(input_tokens=12, output_tokens=34), model="m", provider="p",
        latency_ms=5.0,
    )  # fmt: skip


def write_everything(store: Store) -> AnswerCache:
    """One value holding the canaries through every write path of the store."""
    store.save_run(
        PersistRunInput(
            workflow_id=WF,
            run_id="run-1",
            ticket_id="T-1",
            stage=Stage.DONE,
            result=result(),
            steps=[step()],
            review=review(),
            review_status="decided",
            correction=Correction(
                decision_id="d-1",
                review_id="rv-1",
                action=ReviewAction.EDIT,
                reviewer="ben@example.com",
                note=SECRET_TEXT,
                requested_at=T0,
                decided_at=T0 + timedelta(minutes=5),
                proposal=PROPOSAL,
                final=FINAL,
                confidence=0.42,
            ),
        )
    )
    store.put_blob(SECRET_TEXT)
    store.put_responses([(WF, "draft", "h1", answer())])
    notice = Notification(
        key=f"{WF}:escalated", kind="review_escalated", workflow_id=WF, ticket_id="T-1",
        message=SECRET_TEXT,
    )  # fmt: skip
    store.put_notification(notice, "store")
    cache = AnswerCache(store)
    cache.create_schema()
    cache.record(
        CacheRecordInput(
            workflow_id=WF,
            writes=[
                CacheWrite(
                    step="draft",
                    key="k1",
                    scope="s",
                    text=SECRET_TEXT,
                    output={"reply": SECRET_TEXT},
                    trust="human",
                    approved_by="ben",
                )  # fmt: skip
            ],
            semantic=False,
        )
    )
    return cache


def read_everything(store: Store, cache: AnswerCache) -> dict:
    got = store.get_result(WF)
    [correction] = store.corrections()
    [notice] = store.notifications(WF)
    hit = cache.lookup(
        CacheLookup(workflow_id=WF, step="draft", key="k1", scope="s", text="", semantic=False)
    ).hit
    blob_ref = "sha256:" + hashlib.sha256(SECRET_TEXT.encode()).hexdigest()
    return {
        "reply": got.reply,
        "category": got.category,
        "reasoning": got.steps[0].reasoning,
        "details": got.steps[0].details,
        "review": _review_body(store),
        "note": correction.note,
        "proposal": correction.proposal["reply"],
        "final": correction.final["reply"],
        "delta": correction.delta,
        "notice": notice.message,
        "blob": store.get_blob(blob_ref),
        "response": store.get_response(WF, "draft", "h1"),
        "cache_output": hit.output,
        "cache_text": cache.get("k1")[0].text,
    }


def _review_body(store: Store) -> str:
    from sqlmodel import Session

    from activities.review_store import ReviewRow

    with Session(store.engine) as session:
        row = session.get(ReviewRow, "rv-1")
        return ReviewRequest.model_validate(row.request).ticket.body


def expected_reads(text_: str) -> dict:
    masked_answer = json.dumps({"reply": text_, "reasoning": "quoted the card"})
    return {
        "reply": text_,
        "category": "billing",
        "reasoning": text_,
        "details": {"feedback": [text_], "attempt": 1},
        "review": text_,
        "note": text_,
        "proposal": text_,
        "final": f"{WORD} refunded",
        "delta": {"reply": {"old": text_, "new": f"{WORD} refunded"}},
        "notice": text_,
        "blob": text_,
        "response": ModelResponse(
            text=json.dumps(json.loads(masked_answer), ensure_ascii=False),
            usage=Usage(input_tokens=12, output_tokens=34),
            model="m",
            provider="p",
            latency_ms=5.0,
        ),  # fmt: skip
        "cache_output": {"reply": text_},
        "cache_text": text_,
    }


@pytest.mark.parametrize("mode", ["mask", "encrypt"])
def test_no_canary_reaches_the_database(url: str, mode: str) -> None:
    ring = keyring({"A": KEY_A}) if mode == "encrypt" else None
    store = open_store(url, Protection(mode, ring))
    try:
        cache = write_everything(store)
        dump = raw_dump(store)
        assert [c for c in CANARIES if c in dump] == []
        if mode == "encrypt":
            assert WORD not in dump
            assert "aiflow:sealed:v1:A:" in dump
        else:
            assert MASKED_TEXT in dump or MASKED_TEXT.replace('"', '\\"') in dump
        assert read_everything(store, cache) == expected_reads(MASKED_TEXT)
    finally:
        store.close()


def test_old_clear_rows_read_after_encryption_is_switched_on(url: str) -> None:
    clear = open_store(url, Protection("mask"))
    write_everything(clear)
    clear.close()
    store = open_store(url, Protection("encrypt", keyring({"A": KEY_A})))
    try:
        assert read_everything(store, AnswerCache(store)) == expected_reads(MASKED_TEXT)
        store.put_blob(f"new {WORD}")  # new writes are sealed beside the clear rows
        with store.engine.connect() as conn:
            contents = sorted(r[0][:19] for r in conn.execute(text("SELECT content FROM blobs")))
        assert contents == ["aiflow:sealed:v1:A:", MASKED_TEXT[:19]]
    finally:
        store.close()


def test_keys_rotate_and_a_removed_key_is_named(url: str) -> None:
    a = open_store(url, Protection("encrypt", keyring({"A": KEY_A})))
    write_everything(a)
    a.close()
    # rotated: B seals, A still opens what it sealed
    ab = open_store(url, Protection("encrypt", keyring({"A": KEY_A, "B": KEY_B}, "B")))
    try:
        assert read_everything(ab, AnswerCache(ab)) == expected_reads(MASKED_TEXT)
        ref_b = ab.put_blob(f"sealed under B {WORD}")
        with ab.engine.connect() as conn:
            row = conn.execute(text("SELECT content FROM blobs WHERE ref = :r"), {"r": ref_b})
            assert row.scalar_one().startswith("aiflow:sealed:v1:B:")
    finally:
        ab.close()
    # A removed: its values raise SealedValueError naming it; B's and unsealed reads work
    b = open_store(url, Protection("encrypt", keyring({"B": KEY_B})))
    try:
        with pytest.raises(SealedValueError) as err:
            b.get_result(WF)
        assert str(err.value) == (
            "runs.result: a value sealed under key 'A', which is not loaded (loaded: B); "
            "add it to AIFLOW_PAYLOAD_KEYS to read it"
        )
        assert b.get_blob(ref_b) == f"sealed under B {WORD}"
        [run] = _numbers(b)
        assert run == (WF, "done", "billing", 0.42, 0.001)
    finally:
        b.close()
    # and with no key at all
    none = open_store(url, Protection("mask"))
    try:
        with pytest.raises(SealedValueError) as err:
            none.get_blob(ref_b)
        assert str(err.value) == (
            "blobs.content: a value sealed under key 'B', and no key is loaded "
            "(AIFLOW_PAYLOAD_KEYS / AIFLOW_PAYLOAD_KEYS_FILE)"
        )
    finally:
        none.close()


def _numbers(store: Store) -> list[tuple]:
    """What reports read of a run: ids, stage, category and numbers, never sealed."""
    from sqlmodel import Session, select

    from activities.store import RunRow

    q = select(RunRow.workflow_id, RunRow.stage, RunRow.category, RunRow.confidence,
               RunRow.cost_usd)  # fmt: skip
    with Session(store.engine) as session:
        return [tuple(r) for r in session.exec(q)]


def test_a_value_sealed_for_one_column_does_not_open_in_another(tmp_path: Path) -> None:
    ring = keyring({"A": KEY_A})
    value = sealed.seal_text("x", ring, "steps.reasoning")
    assert sealed.open_text(value, ring, "steps.reasoning") == "x"
    with pytest.raises(SealedValueError) as err:
        sealed.open_text(value, ring, "blobs.content")
    assert str(err.value) == "blobs.content: a value sealed under key 'A' failed authentication"


@pytest.mark.parametrize("mode", ["mask", "encrypt"])
def test_input_shaped_like_a_sealed_value_reads_back_as_written(tmp_path, mode) -> None:
    ring = keyring({"A": KEY_A}) if mode == "encrypt" else None
    store = open_store(f"sqlite:///{tmp_path}/s.db", Protection(mode, ring))
    try:
        forged = "aiflow:sealed:v1:A:AAAA"
        ref = store.put_blob(forged)
        assert store.get_blob(ref) == forged
    finally:
        store.close()


def test_redact_keeps_lengths_and_the_working_data(url: str) -> None:
    store = open_store(url, Protection("redact", keyring({"A": KEY_A})))
    try:
        cache = write_everything(store)
        dump = raw_dump(store)
        assert [c for c in CANARIES if c in dump] == [] and WORD not in dump
        gone = "[redacted 75 chars]"  # the length of the masked text
        got = read_everything(store, cache)
        assert got == expected_reads(MASKED_TEXT) | {
            "reply": gone,
            "reasoning": gone,
            "details": {"feedback": [gone], "attempt": 1},
            "review": gone,
            "note": gone,
            "proposal": gone,
            "final": f"[redacted {len(WORD) + 9} chars]",
            "delta": {"reply": {"old": gone, "new": f"[redacted {len(WORD) + 9} chars]"}},
            "notice": gone,
            "cache_text": gone,
        }
    finally:
        store.close()


def test_redact_without_keys_masks_the_working_data(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db", Protection("redact"))
    try:
        write_everything(store)
        assert store.get_response(WF, "draft", "h1") == expected_reads(MASKED_TEXT)["response"]
        assert [c for c in CANARIES if c in raw_dump(store)] == []
    finally:
        store.close()


def test_binary_originals_are_sealed_but_never_masked(tmp_path: Path) -> None:
    data = CARD.encode() + bytes(range(256))
    store = open_store(f"sqlite:///{tmp_path}/s.db", Protection("encrypt", keyring({"A": KEY_A})))
    try:
        ref = store.put_bytes(data)
        assert store.get_bytes(ref) == data
        assert base64.b64encode(data).decode()[:16] not in raw_dump(store)
    finally:
        store.close()


def test_encrypt_without_a_key_is_refused() -> None:
    with pytest.raises(sealed.KeySettingError) as err:
        Protection("encrypt")
    assert str(err.value) == (
        "AIFLOW_STORE_PROTECTION=encrypt needs a key (AIFLOW_PAYLOAD_KEYS or "
        "AIFLOW_PAYLOAD_KEYS_FILE; `aiflow keys new` makes one)"
    )


def test_the_settings_choose_the_mode(tmp_path: Path) -> None:
    from settings import Settings

    key = base64.b64encode(KEY_A).decode()
    cases = [
        ({}, ("mask", None)),
        ({"payload_keys": json.dumps({"A": key})}, ("encrypt", "A")),
        ({"payload_keys": json.dumps({"A": key}), "store_protection": "mask"}, ("mask", "A")),
        ({"store_protection": "redact"}, ("redact", None)),
    ]
    for values, want in cases:
        p = sealed.protection_for(Settings(_env_file=None, **values))
        assert (p.mode, p.keyring and p.keyring.active) == want


def test_the_canary_card_is_a_card() -> None:
    assert luhn_ok(CARD.replace(" ", ""))


def test_feedback_files_mask_rows_stored_before_masking(tmp_path: Path) -> None:
    from starter.feedback import write_jsonl

    answer_json = json.dumps({"reply": SECRET_TEXT})
    lines = [{"body": SECRET_TEXT, "messages": [{"content": answer_json}], "n": 4}]
    write_jsonl(tmp_path / "eval.jsonl", lines)
    [line] = (tmp_path / "eval.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {
        "body": MASKED_TEXT,
        "messages": [{"content": json.dumps({"reply": MASKED_TEXT})}],
        "n": 4,
    }


def test_logs_mask_cards_ibans_and_secrets_in_messages() -> None:
    from activities.logs import redact

    event = {"event": "draft.rejected", "error": SECRET_TEXT, "note": "Bearer abcdefgh1234"}
    assert redact(None, "info", event) == {
        "event": "draft.rejected",
        "error": f"{WORD}: card [card ending 1486], IBAN [IBAN ending 3000], key [redacted]",
        "note": "[redacted]",
    }
