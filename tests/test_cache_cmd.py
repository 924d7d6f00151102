"""`aiflow cache` on a real SQLite store: list, show, evict, stats, and its one-line errors.
The write rules (human over auto, agreement, eviction) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from activities.answer_cache import AnswerCache
from activities.store import Store
from contracts.cache import CacheLookup, CacheRecordInput, CacheWrite
from starter import cache_cmd
from tests.conftest import make_settings


def write(key: str, step: str, output: dict, trust: str = "human", by: str = "reviewer:ana"):
    return CacheWrite(
        step=step,
        key=key,
        scope="scope-1",
        text=f"question {key}",
        output=output,
        trust=trust,
        approved_by=by,
    )


def record(cache: AnswerCache, *writes: CacheWrite, evict=(), agreement: int = 3, wf="wf-1"):
    return cache.record(
        CacheRecordInput(
            workflow_id=wf,
            writes=list(writes),
            evict=list(evict),
            evict_reason="rejected by reviewer:bo",
            auto_agreement=agreement,
            semantic=False,
        )
    )


def exact(cache: AnswerCache, key: str):
    return cache.lookup(
        CacheLookup(
            workflow_id="w", step="draft", key=key, scope="scope-1", text="t", semantic=False
        )
    ).hit


@pytest.fixture(params=["sqlite", "postgresql"])
def cache(request, tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    if request.param == "postgresql":
        url = request.getfixturevalue("fresh_pg_url")
    store = Store(url)
    c = AnswerCache(store)
    c.create_schema()
    yield c
    store.close()


def test_auto_answers_are_served_only_after_agreement_and_never_over_a_persons(cache):
    a = {"category": "shipping"}
    assert record(cache, write("k1", "classify", a, "auto", "auto:agreement")).trusted == 0
    assert record(cache, write("k1", "classify", a, "auto", "auto:agreement")).trusted == 0
    assert exact(cache, "k1") is None
    assert record(cache, write("k1", "classify", a, "auto", "auto:agreement")).trusted == 1
    assert exact(cache, "k1").output == a
    # a disagreeing auto answer starts the count again
    b = {"category": "billing"}
    assert record(cache, write("k1", "classify", b, "auto", "auto:agreement")).trusted == 0
    assert exact(cache, "k1") is None
    # a person's answer is served at once and an auto answer no longer changes it
    assert record(cache, write("k1", "classify", a)).trusted == 1
    record(cache, write("k1", "classify", b, "auto", "auto:agreement"))
    hit = exact(cache, "k1")
    assert (hit.output, hit.approved_by, hit.tier, hit.hits) == (a, "reviewer:ana", "exact", 1)


def test_auto_answers_to_paraphrases_agree_by_meaning(cache):
    """Three auto-resolved runs asking the same thing in other words, with the same answer,
    make the entry servable; another question or another answer does not count."""
    a, b = {"category": "shipping"}, {"category": "billing"}

    def auto(key: str, text: str, output: dict):
        w = write(key, "classify", output, "auto", "auto:agreement").model_copy(
            update={"text": text}
        )
        inp = CacheRecordInput(
            workflow_id="wf", writes=[w], auto_agreement=3, semantic=True, min_similarity=0.82
        )
        return cache.record(inp).trusted

    assert auto("p1", "where is my order {order}? it has not arrived yet", a) == 0
    assert auto("x1", "how do I reset my password?", a) == 0  # another question
    assert (
        auto("p2", "my order {order} still has not arrived, where is it?", b) == 0
    )  # other answer
    assert exact(cache, "p2") is None
    assert auto("p3", "order {order} has not been delivered, can you tell me where it is?", a) == 0
    assert auto("p4", "my order {order} has not arrived. where is it?", a) == 1
    rows = {r.key: (r.trusted, r.agreement) for r in cache.rows(include_untrusted=True)}
    assert rows == {
        "p1": (False, 1),
        "x1": (False, 1),
        "p2": (False, 1),
        "p3": (False, 2),
        "p4": (True, 3),
    }
    assert exact(cache, "p4").output == a


def test_a_rejection_evicts_and_a_later_approval_restores(cache):
    record(cache, write("k2", "draft", {"reply": "Hello {{name}}"}))
    assert record(cache, evict=["k2"]).evicted == 1
    assert record(cache, evict=["k2"]).evicted == 0  # already evicted
    assert exact(cache, "k2") is None
    record(
        cache,
        write("k2", "draft", {"reply": "Hello {{name}}, again"}, "auto", "auto:x"),
        agreement=1,
    )
    assert exact(cache, "k2") is None  # an auto answer does not undo a reviewer's rejection
    record(cache, write("k2", "draft", {"reply": "Hi {{name}}"}, by="reviewer:cy"))
    assert exact(cache, "k2").output == {"reply": "Hi {{name}}"}


def test_the_cli_lists_shows_evicts_and_counts(tmp_path, capsys):
    s = make_settings(tmp_path)
    store = Store(s.store_url)
    c = AnswerCache(store)
    c.create_schema()
    record(c, write("abcdef0123456789", "draft", {"reply": "Hello {{name}}"}))
    record(
        c, write("abcdef9999999999", "classify", {"category": "shipping"}, "auto", "auto:agreement")
    )
    store.close()

    def run(*argv: str) -> tuple[int, str, str]:
        code = asyncio.run(cache_cmd.amain(list(argv), s))
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = run("list")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "KEY",
        "STEP",
        "STATUS",
        "APPROVED",
        "BY",
        "HITS",
        "LAST",
        "HIT",
        "QUESTION",
    ]
    assert [line.split()[:4] for line in out.splitlines()[1:]] == [
        ["abcdef012345", "draft", "served", "reviewer:ana"]
    ]
    code, out, _ = run("list", "--all")
    assert [line.split()[:3] for line in out.splitlines()[1:]] == [
        ["abcdef012345", "draft", "served"],
        ["abcdef999999", "classify", "pending"],
    ]
    assert run("show", "abcd") == (1, "", "aiflow cache: give at least 8 characters of the key\n")
    assert run("show", "abcdef") == (1, "", "aiflow cache: give at least 8 characters of the key\n")
    assert run("show", "abcdef01")[1].splitlines()[:3] == [
        "key: abcdef0123456789",
        "step: draft",
        "status: served",
    ]
    assert run("show", "abcdef77") == (1, "", "aiflow cache: no entry 'abcdef77'\n")
    assert run("evict", "abcdef01", "--reason", "stale") == (
        0,
        "abcdef012345: evicted (stale)\n",
        "",
    )
    assert run("evict", "abcdef01") == (1, "", "aiflow cache: abcdef012345 was already evicted\n")
    code, out, _ = run("stats")
    assert [line.split() for line in out.splitlines()[1:]] == [
        ["classify", "auto", "not", "served", "1", "0"],
        ["draft", "human", "not", "served", "1", "0"],
    ]
    assert run("list") == (0, "no cache entries\n", "")
